// Checkpoints: a scheduler built afresh and loaded continues exactly as the uninterrupted run,
// for every scheduler at several points; bad checkpoints throw and change nothing.

#include "platform.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "helpers.h"

namespace {

using torchlr::testing::SgdFixture;
using Factory = std::function<std::shared_ptr<torchlr::LRScheduler>(torch::optim::Optimizer&)>;

struct Named {
  std::string name;
  Factory make;
};

// Every LRScheduler: the two that take functions, then every one of the factory's table (built
// from its example config), so a scheduler added to the table is checked here too.
std::vector<Named> all_schedulers() {
  using namespace torchlr;
  std::vector<Named> list{
      {"LambdaLR",
       [](auto& o) {
         return std::make_shared<LambdaLR>(o, LambdaLROptions([](int64_t e) { return 1.0 / (1 + e); }));
       }},
      {"MultiplicativeLR",
       [](auto& o) {
         return std::make_shared<MultiplicativeLR>(o, MultiplicativeLROptions([](int64_t) { return 0.93; }));
       }},
  };
  for (const auto& entry : registered_schedulers()) {
    // timm's schedulers are not LRSchedulers (test_timm.cpp checks their checkpoints).
    if (entry.example.size() == 0 || entry.takes_metric || entry.timm_protocol) continue;
    list.push_back({entry.name, [example = entry.example](torch::optim::Optimizer& o) {
                      return make_lr_scheduler(o, example);
                    }});
  }
  return list;
}

std::string save_to_string(const torchlr::LRScheduler& scheduler) {
  torch::serialize::OutputArchive archive;
  scheduler.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

std::vector<double> lrs_of(const torch::optim::Optimizer& optimizer) {
  std::vector<double> lrs;
  for (const auto& g : optimizer.param_groups()) lrs.push_back(g.options().get_lr());
  return lrs;
}

// Steps both fixtures' schedulers `steps` times and expects bit-identical lrs at every step.
void ExpectSameContinuation(SgdFixture& a, torchlr::LRScheduler& sa, SgdFixture& b,
                            torchlr::LRScheduler& sb, int steps) {
  for (int i = 0; i < steps; ++i) {
    a.optimizer_step();
    sa.step();
    b.optimizer_step();
    sb.step();
    ASSERT_EQ(lrs_of(*a.optimizer), lrs_of(*b.optimizer)) << "continuation step " << i;
    ASSERT_EQ(sa.get_last_lr(), sb.get_last_lr());
    ASSERT_EQ(sa.last_epoch(), sb.last_epoch());
  }
}

TEST(Checkpoint, EverySchedulerContinuesExactlyAtSeveralPoints) {
  const auto dir = std::filesystem::temp_directory_path() / "torchlr_checkpoint_test";
  std::filesystem::create_directories(dir);
  for (const auto& [name, make] : all_schedulers()) {
    for (int k : {0, 1, 3, 4, 7, 12}) {
      SCOPED_TRACE(name + " saved after " + std::to_string(k) + " steps");
      SgdFixture original({0.1, 0.03});
      auto scheduler = make(*original.optimizer);
      EXPECT_EQ(scheduler->name(), name);
      for (int i = 0; i < k; ++i) {
        original.optimizer_step();
        scheduler->step();
      }
      const auto model_path = (dir / "optimizer.pt").string();
      const auto sched_path = (dir / "scheduler.pt").string();
      torch::save(*original.optimizer, model_path);
      torch::save(*scheduler, sched_path);

      // A fresh process would do this: same construction, then load both.
      SgdFixture resumed({0.1, 0.03});
      auto fresh = make(*resumed.optimizer);
      torch::load(*resumed.optimizer, model_path);
      torch::load(*fresh, sched_path);
      // Whatever torch::load of the optimizer did to the lrs, they are the checkpoint's now.
      EXPECT_EQ(lrs_of(*resumed.optimizer), lrs_of(*original.optimizer));
      EXPECT_EQ(fresh->last_epoch(), scheduler->last_epoch());
      EXPECT_EQ(fresh->get_last_lr(), scheduler->get_last_lr());
      EXPECT_EQ(fresh->base_lrs(), scheduler->base_lrs());
      ExpectSameContinuation(original, *scheduler, resumed, *fresh, 15);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, CosineResumeMatchesPyTorch) {  // semantics doc, case 4
  SgdFixture f({0.1});
  torchlr::CosineAnnealingLR s(*f.optimizer, torchlr::CosineAnnealingLROptions(10));
  for (int i = 0; i < 4; ++i) {
    f.optimizer_step();
    s.step();
  }
  const std::string saved = save_to_string(s);
  SgdFixture g({0.1});
  torchlr::CosineAnnealingLR fresh(*g.optimizer, torchlr::CosineAnnealingLROptions(10));
  torch::serialize::InputArchive in;
  std::istringstream stream(saved);
  in.load_from(stream);
  fresh.load(in);
  EXPECT_EQ(fresh.last_epoch(), 4);
  const std::vector<double> expected{0.05, 0.0345491503, 0.0206107374};
  for (double lr : expected) {
    g.optimizer_step();
    fresh.step();
    EXPECT_TRUE(torchlr::testing::RelClose(g.lr(), lr, 1e-9));
  }
}

// Everything observable about a scheduler and its optimizer.
struct Observed {
  int64_t last_epoch;
  std::vector<double> last_lr, base_lrs, optimizer_lrs;
  std::string state;
  bool operator==(const Observed& o) const {
    return last_epoch == o.last_epoch && last_lr == o.last_lr && base_lrs == o.base_lrs &&
           optimizer_lrs == o.optimizer_lrs;
  }
};

Observed observe(const torchlr::LRScheduler& s) {
  return {s.last_epoch(), s.get_last_lr(), s.base_lrs(), lrs_of(s.optimizer()), ""};
}

void load_string(torchlr::LRScheduler& s, const std::string& bytes) {
  torch::serialize::InputArchive in;
  std::istringstream stream(bytes);
  in.load_from(stream);
  s.load(in);
}

class BadCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 5; ++i) {
      f.optimizer_step();
      target.step();
      twin_f.optimizer_step();
      twin.step();
    }
    before = observe(target);
  }
  // The twin's checkpoint with every entry passed through `edit(key, value)`.
  std::string edited_twin_checkpoint(const std::function<c10::IValue(const std::string&, c10::IValue)>& edit) {
    torch::serialize::InputArchive in;
    std::istringstream stream(save_to_string(twin));
    in.load_from(stream);
    torch::serialize::OutputArchive edited;
    for (const auto& key : in.keys()) {
      c10::IValue value;
      in.read(key, value);
      edited.write(key, edit(key, value));
    }
    std::ostringstream out;
    edited.save_to(out);
    return out.str();
  }
  // After a refused load the scheduler must behave exactly like its untouched twin.
  void ExpectUnchanged() {
    EXPECT_TRUE(observe(target) == before);
    ExpectSameContinuation(f, target, twin_f, twin, 10);
  }
  SgdFixture f{{0.1, 0.2}};
  torchlr::CosineAnnealingWarmRestarts target{
      *f.optimizer, torchlr::CosineAnnealingWarmRestartsOptions(3).T_mult(2)};
  SgdFixture twin_f{{0.1, 0.2}};
  torchlr::CosineAnnealingWarmRestarts twin{
      *twin_f.optimizer, torchlr::CosineAnnealingWarmRestartsOptions(3).T_mult(2)};
  Observed before;
};

TEST_F(BadCheckpoint, AnotherSchedulerType) {
  SgdFixture g({0.1, 0.2});
  torchlr::StepLR other(*g.optimizer, torchlr::StepLROptions(2));
  EXPECT_VALUE_ERROR(load_string(target, save_to_string(other)),
                     "cannot load a checkpoint of a StepLR into a CosineAnnealingWarmRestarts");
  ExpectUnchanged();
}

TEST_F(BadCheckpoint, AnotherGroupCount) {
  SgdFixture g({0.1, 0.2, 0.3});
  torchlr::CosineAnnealingWarmRestarts other(
      *g.optimizer, torchlr::CosineAnnealingWarmRestartsOptions(3).T_mult(2));
  EXPECT_VALUE_ERROR(load_string(target, save_to_string(other)), "saved for 3 param groups",
                     "this scheduler has 2");
  ExpectUnchanged();
}

TEST_F(BadCheckpoint, MissingEntriesFailAfterSomeFieldsWereRead) {
  // Header and base fields present, the scheduler's own fields absent: the fields read so far
  // must be put back.
  SgdFixture g({0.7, 0.9});
  torchlr::CosineAnnealingWarmRestarts other(
      *g.optimizer, torchlr::CosineAnnealingWarmRestartsOptions(3).T_mult(2));
  torch::serialize::OutputArchive partial;
  partial.write("type", c10::IValue(std::string("CosineAnnealingWarmRestarts")));
  partial.write("format_version", c10::IValue(int64_t{1}));
  partial.write("num_groups", c10::IValue(int64_t{2}));
  partial.write("last_epoch", c10::IValue(int64_t{99}));
  partial.write("step_count", c10::IValue(int64_t{100}));
  partial.write("base_lrs", c10::IValue(std::vector<double>{0.7, 0.9}));
  partial.write("last_lr", c10::IValue(std::vector<double>{0.7, 0.9}));
  std::ostringstream out;
  partial.save_to(out);
  EXPECT_VALUE_ERROR(load_string(target, out.str()), "entry 'T_0' is missing");
  ExpectUnchanged();
}

TEST_F(BadCheckpoint, IllTypedEntry) {
  torch::serialize::OutputArchive wrong;
  wrong.write("type", c10::IValue(int64_t{7}));
  std::ostringstream out;
  wrong.save_to(out);
  EXPECT_VALUE_ERROR(load_string(target, out.str()), "entry 'type' should be a string");
  ExpectUnchanged();
}

TEST_F(BadCheckpoint, InvalidValuesInside) {
  // A checkpoint whose T_0 was corrupted to 0 is refused by the same rule as the constructor.
  const auto bytes = edited_twin_checkpoint([](const std::string& key, c10::IValue value) {
    return key == "T_0" ? c10::IValue(int64_t{0}) : value;
  });
  EXPECT_VALUE_ERROR(load_string(target, bytes), "Expected positive integer T_0, but got 0");
  ExpectUnchanged();
}

// Found by fuzz_checkpoint: the group count was the length of base_lrs, so a checkpoint whose
// lists all had another length passed the check (and when a later entry failed, the put-back
// failed too, leaving the scheduler unable to save). The count is now fixed at construction.
TEST_F(BadCheckpoint, ListsOfAnotherLength) {
  const auto bytes = edited_twin_checkpoint([](const std::string& key, c10::IValue value) {
    return key == "base_lrs" || key == "last_lr" ? c10::IValue(std::vector<double>{0.1, 0.2, 0.3}) : value;
  });
  EXPECT_VALUE_ERROR(load_string(target, bytes), "do not have one value per param group");
  EXPECT_NO_THROW(save_to_string(target));
  ExpectUnchanged();
}

TEST_F(BadCheckpoint, TruncatedFile) {
  const std::string bytes = save_to_string(twin);
  EXPECT_THROW(load_string(target, bytes.substr(0, bytes.size() / 2)), c10::Error);
  ExpectUnchanged();
}

TEST(Checkpoint, CompositeWithAnotherChildCountIsRefused) {
  SgdFixture f({0.1});
  auto a = std::make_shared<torchlr::StepLR>(*f.optimizer, torchlr::StepLROptions(2));
  auto b = std::make_shared<torchlr::ExponentialLR>(*f.optimizer, 0.9);
  torchlr::ChainedScheduler two({a, b});
  SgdFixture g({0.1});
  auto c = std::make_shared<torchlr::StepLR>(*g.optimizer, torchlr::StepLROptions(2));
  torchlr::ChainedScheduler one({c});
  EXPECT_VALUE_ERROR(load_string(one, save_to_string(two)), "2 child schedulers", "has 1");
  EXPECT_EQ(one.last_epoch(), 0);
}

// Every scheduler against every other one's checkpoint, its own with another group count, and
// its own cut short at many lengths: a clear error each time, and the scheduler and optimizer
// (lrs and momenta) exactly as before, continuing like an untouched twin.
TEST(CheckpointSafety, WrongTypeOtherGroupCountAndTruncatedFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("torchlr_safety_" + std::to_string(torchlr::platform::process_id()));
  std::filesystem::create_directories(dir);
  const auto schedulers = all_schedulers();
  int refused = 0;
  auto momenta_of = [](const torch::optim::Optimizer& o) {
    std::vector<double> m;
    for (const auto& g : o.param_groups()) m.push_back(static_cast<const torch::optim::SGDOptions&>(g.options()).momentum());
    return m;
  };
  for (const auto& [name, make] : schedulers) {
    SCOPED_TRACE(name);
    SgdFixture f({0.1, 0.03});
    auto target = make(*f.optimizer);
    SgdFixture twin_f({0.1, 0.03});
    auto twin = make(*twin_f.optimizer);
    for (int i = 0; i < 4; ++i) {
      f.optimizer_step();
      target->step();
      twin_f.optimizer_step();
      twin->step();
    }
    const Observed before = observe(*target);
    const auto momenta = momenta_of(*f.optimizer);
    auto expect_refused = [&](const std::string& bytes, const std::string& fragment, bool value_error) {
      try {
        load_string(*target, bytes);
        ADD_FAILURE() << "accepted: " << fragment;
      } catch (const c10::ValueError& e) {
        EXPECT_TRUE(value_error) << e.what_without_backtrace();
        EXPECT_NE(std::string(e.what_without_backtrace()).find(fragment), std::string::npos) << e.what_without_backtrace();
      } catch (const c10::Error& e) {
        EXPECT_FALSE(value_error) << e.what_without_backtrace();  // LibTorch's reader refused the bytes
      }
      EXPECT_TRUE(observe(*target) == before);
      EXPECT_EQ(momenta_of(*f.optimizer), momenta);
      ++refused;
    };
    for (const auto& [other_name, make_other] : schedulers) {
      if (other_name == name) continue;
      SgdFixture g({0.5, 0.7});
      auto other = make_other(*g.optimizer);
      expect_refused(save_to_string(*other), "cannot load a checkpoint of a " + other_name + " into a " + name, true);
    }
    SgdFixture three({0.1, 0.03, 0.2});
    expect_refused(save_to_string(*make(*three.optimizer)), "saved for 3 param groups", true);
    // The file as torch::save writes it, cut at ~40 lengths from empty to one byte short.
    const auto path = (dir / "scheduler.pt").string();
    torch::save(*twin, path);
    std::ifstream in(path, std::ios::binary);
    const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::size_t cut = 0; cut < whole.size(); cut += std::max<std::size_t>(1, whole.size() / 40)) {
      std::ofstream(path, std::ios::binary | std::ios::trunc).write(whole.data(), static_cast<std::streamsize>(cut));
      try {
        torch::load(*target, path);
        ADD_FAILURE() << "a file cut at " << cut << " of " << whole.size() << " bytes was accepted";
      } catch (const c10::Error&) {
      }
      EXPECT_TRUE(observe(*target) == before) << "cut at " << cut;
      EXPECT_EQ(momenta_of(*f.optimizer), momenta);
      ++refused;
    }
    ExpectSameContinuation(f, *target, twin_f, *twin, 10);
  }
  std::filesystem::remove_all(dir);
  std::cout << "[ checkpoint ] " << refused << " bad checkpoints refused with nothing changed\n";
}

}  // namespace
