// The LR range test: ladder, smoothing, stopping, data handling, the bit-identical restore, the
// suggestion rules (against recorded fixtures and against a problem whose answer is known).

#include "platform.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include <torchlr/lr_finder.h>

#include "finder_support.h"
#include "helpers.h"

namespace {

using torchlr::LRFinderOptions;
using torchlr::testing::Fingerprint;
using torchlr::testing::listing;
using torchlr::testing::Net;
using torchlr::testing::RelClose;

// ---- the ladder -----------------------------------------------------------------------------

TEST(Ladder, ExponentialHitsBothEnds) {
  const auto ladder = torchlr::lr_ladder(1e-7, 10, 100, torchlr::LadderMode::exponential);
  ASSERT_EQ(ladder.size(), 100u);
  EXPECT_EQ(ladder.front(), 1e-7);
  EXPECT_EQ(ladder.back(), 10.0);
  EXPECT_TRUE(RelClose(ladder[1], 1e-7 * std::pow(1e8, 1.0 / 99)));
  EXPECT_TRUE(RelClose(ladder[33], 1e-7 * std::pow(1e8, 33.0 / 99)));
}

TEST(Ladder, LinearHitsBothEnds) {
  const auto ladder = torchlr::lr_ladder(0.0, 1.0, 5, torchlr::LadderMode::linear);
  EXPECT_EQ(ladder, (std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0}));
}

// ---- a scripted loss ------------------------------------------------------------------------

// A model with one weight and a loss callable that returns scripted values (with a gradient,
// so backward and optimizer.step really run).
struct Scripted {
  explicit Scripted(std::vector<double> values) : values(std::move(values)) {
    model->to(torch::kDouble);
  }
  torch::Tensor next() {
    const double v = values.at(calls++ % values.size());
    return model->weight.sum() * 0 + v;
  }
  torch::nn::Linear model{torch::nn::LinearOptions(2, 1).bias(false)};
  std::vector<double> values;
  std::size_t calls = 0;
};

LRFinderOptions quiet() { return LRFinderOptions().progress_bar(false); }

TEST(RangeTest, RecordsTheLadderAndSmoothsExactly) {
  Scripted s({1.0, 2.0, 3.0, 2.5});
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); },
                                  quiet().min_lr(1e-3).max_lr(1e-1).num_iter(4).early_stop_threshold(std::nullopt));
  EXPECT_EQ(r.stop_reason(), torchlr::StopReason::completed);
  EXPECT_EQ(r.lrs(), torchlr::lr_ladder(1e-3, 1e-1, 4, torchlr::LadderMode::exponential));
  EXPECT_EQ(r.raw_losses(), (std::vector<double>{1.0, 2.0, 3.0, 2.5}));
  // By hand: avg_k = β·avg_{k−1} + (1 − β)·loss_k, smoothed_k = avg_k / (1 − β^k), β = 0.98.
  const double beta = 0.98;
  double avg = 0;
  for (int k = 1; k <= 4; ++k) {
    avg = beta * avg + (1 - beta) * r.raw_losses()[k - 1];
    EXPECT_EQ(r.losses()[k - 1], avg / (1 - std::pow(beta, k))) << "k = " << k;
  }
  // The bias correction makes the first point the loss itself, and the second the plain
  // weighted mean (0.98·1 + 2) / 1.98.
  EXPECT_EQ(r.losses()[0], 1.0);
  EXPECT_NEAR(r.losses()[1], (0.98 * 1 + 2) / 1.98, 4e-15);
}

TEST(RangeTest, StopsAtTheStepThatDiverges) {
  // Flat at 1, then a jump: the smoothed loss crosses 4·best at a step computable by hand.
  std::vector<double> values(20, 1.0);
  for (int i = 12; i < 20; ++i) values[static_cast<std::size_t>(i)] = 1000.0;
  Scripted s(values);
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(20));
  EXPECT_EQ(r.stop_reason(), torchlr::StopReason::diverged);
  // The first jump to 1000 at step 12 lifts the smoothed loss far above 4 (the point is kept).
  ASSERT_EQ(r.losses().size(), 13u);
  EXPECT_GT(r.losses().back(), 4.0);
  EXPECT_LE(r.losses()[11], 4.0);
}

TEST(RangeTest, ThresholdWorksForNegativeLosses) {
  // best = -10: the stop line is best + 3·|best| = 20, not 4·best = -40.
  std::vector<double> values{-10, -10, -10, -10, 5, 5, 5, 5, 5, 5, 5, 5};
  Scripted s(values);
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(12));
  EXPECT_EQ(r.stop_reason(), torchlr::StopReason::completed);
  Scripted t({-10, -10, -10, 1e6});
  torch::optim::SGD sgd2(t.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto stopped = torchlr::lr_find(*t.model, sgd2, [&] { return t.next(); }, quiet().num_iter(12));
  EXPECT_EQ(stopped.stop_reason(), torchlr::StopReason::diverged);
  EXPECT_EQ(stopped.losses().size(), 4u);
}

TEST(RangeTest, StopsOnNaNAndInfWithoutRecordingThem) {
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    Scripted s({1, 1, 1, 1, 1, bad, 1, 1});
    torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
    const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(8));
    EXPECT_EQ(r.stop_reason(), torchlr::StopReason::non_finite_loss);
    EXPECT_EQ(r.lrs().size(), 5u);
  }
}

TEST(RangeTest, AccumulationRecordsTheMeanAndAdvancesOncePerStep) {
  Scripted s({1, 3, 5, 7, 9, 11});
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); },
                                  quiet().num_iter(3).accumulation_steps(2).early_stop_threshold(std::nullopt));
  EXPECT_EQ(r.raw_losses(), (std::vector<double>{2, 6, 10}));
  EXPECT_EQ(r.lrs().size(), 3u);
  EXPECT_EQ(s.calls, 6u);
}

TEST(RangeTest, GroupsGetTheLadderOrKeepTheirRatios) {
  auto a = torch::zeros({1}, torch::kDouble).requires_grad_();
  auto b = torch::zeros({1}, torch::kDouble).requires_grad_();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a}, std::make_unique<torch::optim::SGDOptions>(0.1));
  groups.emplace_back(std::vector<torch::Tensor>{b}, std::make_unique<torch::optim::SGDOptions>(0.01));
  torch::optim::SGD sgd(std::move(groups), torch::optim::SGDOptions(0.1));
  torch::nn::Linear holder(1, 1);
  std::vector<std::pair<double, double>> seen;
  auto loss = [&] {
    seen.emplace_back(sgd.param_groups()[0].options().get_lr(), sgd.param_groups()[1].options().get_lr());
    return (a + b).sum() * 0 + 1.0;
  };
  torchlr::lr_find(*holder, sgd, loss, quiet().min_lr(1e-4).max_lr(1e-2).num_iter(3));
  EXPECT_EQ(seen[2], std::make_pair(1e-2, 1e-2));
  seen.clear();
  const auto r = torchlr::lr_find(*holder, sgd, loss, quiet().min_lr(1e-4).max_lr(1e-2).num_iter(3).keep_group_ratios(true));
  EXPECT_TRUE(RelClose(seen[2].second, 1e-3));
  EXPECT_EQ(r.lrs()[2], 1e-2);
  // Restored afterwards.
  EXPECT_EQ(sgd.param_groups()[0].options().get_lr(), 0.1);
  EXPECT_EQ(sgd.param_groups()[1].options().get_lr(), 0.01);
}

TEST(RangeTest, BadOptions) {
  Scripted s({1.0});
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  auto loss = [&] { return s.next(); };
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().min_lr(0)), "min_lr must be positive");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().min_lr(1).max_lr(0.5)), "max_lr (0.5)");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().num_iter(1)), "num_iter", "1");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().beta(1.0)), "beta");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().early_stop_threshold(0.5)), "early_stop_threshold");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, loss, quiet().accumulation_steps(0)), "accumulation_steps");
  EXPECT_VALUE_ERROR(torchlr::lr_find(*s.model, sgd, [] { return torch::ones({2}); }, quiet()), "scalar loss");
  EXPECT_EQ(s.calls, 0u);
}

// ---- data loaders ---------------------------------------------------------------------------

struct Numbered : torch::data::datasets::Dataset<Numbered> {
  explicit Numbered(int64_t n) : n(n) {}
  torch::data::Example<> get(size_t i) override {
    return {torch::full({1}, static_cast<double>(i), torch::kDouble), torch::zeros({1}, torch::kDouble)};
  }
  torch::optional<size_t> size() const override { return static_cast<size_t>(n); }
  int64_t n;
};

struct Echo : torch::nn::Module {
  Echo() { weight = register_parameter("weight", torch::ones({1}, torch::kDouble)); }
  torch::Tensor forward(const torch::Tensor& x) { return x * weight; }
  torch::Tensor weight;
};

TEST(RangeTest, LoaderStartsAgainWhenItRunsOut) {
  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      Numbered(3).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(1));
  Echo model;
  torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(0.1));
  std::vector<double> inputs;
  auto loss_fn = [&](const torch::Tensor& output, const torch::Tensor& target) {
    inputs.push_back(output.item<double>());
    return torch::mse_loss(output * 0 + 1, target);
  };
  torchlr::lr_find(model, sgd, *loader, loss_fn, quiet().num_iter(7).min_lr(1e-6).max_lr(1e-5).trial_budget(0));
  EXPECT_EQ(inputs, (std::vector<double>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RangeTest, EmptyLoaderIsAnError) {
  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      Numbered(0).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(1));
  Echo model;
  torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(0.1));
  auto mse = [](const torch::Tensor& output, const torch::Tensor& target) { return torch::mse_loss(output, target); };
  EXPECT_VALUE_ERROR(torchlr::lr_find(model, sgd, *loader, mse, quiet()), "no batch");
  EXPECT_EQ(model.weight.item<double>(), 1.0);
}

TEST(RangeTest, ValidationLossIsAveragedInEvalModeWithoutGrad) {
  auto train = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      Numbered(4).map(torch::data::transforms::Stack<>()), torch::data::DataLoaderOptions().batch_size(1));
  Echo model;
  torch::optim::SGD sgd(model.parameters(), torch::optim::SGDOptions(0.1));
  std::vector<bool> grad_enabled, training;
  int val_calls = 0;
  auto val = [&] {
    ++val_calls;
    grad_enabled.push_back(torch::GradMode::is_enabled());
    training.push_back(model.is_training());
    return torch::tensor(2.0 * val_calls, torch::kDouble);
  };
  const auto r = torchlr::lr_find(
      model, sgd, [&] { return model.forward(torch::ones({1}, torch::kDouble)).sum(); },
      quiet().num_iter(3).val_batches(2).early_stop_threshold(std::nullopt), val);
  EXPECT_EQ(r.raw_losses(), (std::vector<double>{3, 7, 11}));  // means of (2,4), (6,8), (10,12)
  EXPECT_EQ(grad_enabled, std::vector<bool>(6, false));
  EXPECT_EQ(training, std::vector<bool>(6, false));
  EXPECT_TRUE(model.is_training());
}

// ---- restore --------------------------------------------------------------------------------

template <typename Optimizer>
void ExpectBitIdenticalRestore(Optimizer& optimizer, Net& net, const std::function<torch::Tensor()>& loss,
                               bool expect_throw) {
  const auto cwd = listing(std::filesystem::current_path());
  const auto tmp = listing(std::filesystem::temp_directory_path());
  torch::manual_seed(7);
  const Fingerprint before(net, optimizer);
  torch::manual_seed(7);
  if (expect_throw) {
    EXPECT_THROW(torchlr::lr_find(net, optimizer, loss, quiet().num_iter(30)), std::runtime_error);
  } else {
    torchlr::lr_find(net, optimizer, loss, quiet().num_iter(30));
  }
  const Fingerprint after(net, optimizer);
  before.ExpectSame(after);
  EXPECT_EQ(listing(std::filesystem::current_path()), cwd);
  EXPECT_EQ(listing(std::filesystem::temp_directory_path()), tmp);
}

// A network that has trained a little, so buffers, gradients and optimizer state are non-trivial.
template <typename Optimizer>
void warm_up(Net& net, Optimizer& optimizer, const torch::Tensor& x, const torch::Tensor& y) {
  for (int i = 0; i < 3; ++i) {
    optimizer.zero_grad();
    torch::mse_loss(net.forward(x), y).backward();
    optimizer.step();
  }
}

TEST(Restore, BitIdenticalAfterANormalRun) {
  torch::manual_seed(0);
  Net net;
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  warm_up(net, sgd, x, y);
  ExpectBitIdenticalRestore(sgd, net, [&] { return torch::mse_loss(net.forward(x + 0.1 * torch::randn_like(x)), y); }, false);
}

TEST(Restore, BitIdenticalWhenTheLossFunctionThrows) {
  torch::manual_seed(1);
  Net net;
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  warm_up(net, adam, x, y);
  int calls = 0;
  ExpectBitIdenticalRestore(adam, net, [&] {
    if (++calls == 9) throw std::runtime_error("data error at step 9");
    return torch::mse_loss(net.forward(x), y);
  }, true);
}

TEST(Restore, BitIdenticalAfterNaN) {
  torch::manual_seed(2);
  Net net;
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05).momentum(0.5));
  warm_up(net, sgd, x, y);
  int calls = 0;
  ExpectBitIdenticalRestore(sgd, net, [&] {
    auto loss = torch::mse_loss(net.forward(x), y);
    return ++calls == 6 ? loss * std::nan("") : loss;
  }, false);
}

TEST(Restore, FreshOptimizerWithoutStateIsLeftWithout) {
  torch::manual_seed(3);
  Net net;
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(1e-3));
  ASSERT_TRUE(adam.state().empty());
  torchlr::lr_find(net, adam, [&] { return torch::mse_loss(net.forward(x), y); }, quiet().num_iter(5));
  EXPECT_TRUE(adam.state().empty());
  for (const auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Restore, CanBeTurnedOff) {
  torch::manual_seed(4);
  Net net;
  const auto x = torch::randn({16, 4}), y = torch::randn({16, 1});
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.05));
  const auto w = net.fc1->weight.detach().clone();
  torchlr::lr_find(net, sgd, [&] { return torch::mse_loss(net.forward(x), y); }, quiet().num_iter(5).restore(false));
  EXPECT_FALSE(torch::equal(w, net.fc1->weight));
}

// ---- suggestions ----------------------------------------------------------------------------

TEST(Suggestion, ReproducesTheRecordedFixtures) {
  std::ifstream in(TORCHLR_TEST_DATA_DIR "/finder_suggestion_fixtures.json");
  const auto fixtures = nlohmann::json::parse(in);
  ASSERT_EQ(fixtures.size(), 12u);
  const std::vector<std::pair<std::string, torchlr::Suggestion>> rules{
      {"PROPOSED max(steepLS w=0.5 skip10, min/10)", torchlr::Suggestion::steepest},
      {"fastai valley", torchlr::Suggestion::valley},
      {"fastai minimum/10", torchlr::Suggestion::minimum},
      {"lightning (lin spacing)", torchlr::Suggestion::lightning}};
  for (const auto& f : fixtures) {
    const auto lrs = f["lrs"].get<std::vector<double>>();
    const auto smoothed = f["smoothed"].get<std::vector<double>>();
    for (const auto& [key, rule] : rules) {
      SCOPED_TRACE(f["problem"].get<std::string>() + " " + key);
      const auto got = torchlr::suggest_lr(lrs, smoothed, rule, 10, f["N"].get<int64_t>());
      ASSERT_TRUE(got.lr.has_value()) << got.reason;
      EXPECT_TRUE(RelClose(*got.lr, f["expected"][key].get<double>(), 1e-12));
    }
  }
}

TEST(Suggestion, SyntheticCurves) {
  // A loss falling linearly in log10(lr) up to 1e-2, flat after: steepest descent is in the
  // falling part, and the rule keeps it within [lr_min/10, lr_min].
  const auto lrs = torchlr::lr_ladder(1e-6, 1, 61, torchlr::LadderMode::exponential);
  std::vector<double> falling;
  for (double lr : lrs) falling.push_back(std::log10(lr) < -2 ? -std::log10(lr) : 2.0);
  const auto s = torchlr::suggest_lr(lrs, falling, torchlr::Suggestion::steepest);
  ASSERT_TRUE(s.lr);
  const double lr_min = lrs[40];  // the first point of the flat part (first on ties)
  EXPECT_GE(*s.lr, lr_min / 10 * (1 - 1e-12));
  EXPECT_LE(*s.lr, lr_min);
  EXPECT_TRUE(s.warning.empty());
  // A flat curve: no descent, a warning, and lr_min / 10.
  const std::vector<double> flat(lrs.size(), 1.0);
  const auto f = torchlr::suggest_lr(lrs, flat, torchlr::Suggestion::steepest);
  EXPECT_EQ(*f.lr, lrs[10] / 10);
  EXPECT_NE(f.warning.find("no clear descent"), std::string::npos);
  // Too few points.
  const std::vector<double> few_lrs{1e-3, 1e-2, 1e-1}, few{1, 1, 1};
  const auto none = torchlr::suggest_lr(few_lrs, few, torchlr::Suggestion::steepest);
  EXPECT_FALSE(none.lr);
  EXPECT_NE(none.reason.find("skipping the first 10"), std::string::npos);
}

// Least squares with a known smoothness constant L: full-batch gradient descent diverges above
// 2/L and is fastest near 1/L, so a good suggestion lies well inside (1/(20L), 2/L).
TEST(Suggestion, FallsInsideTheStableRangeOfALeastSquaresProblem) {
  for (int seed = 0; seed < 5; ++seed) {
    SCOPED_TRACE(seed);
    torch::manual_seed(seed);
    const int64_t n = 256, d = 10;
    const auto x = torch::randn({n, d}, torch::kDouble) * torch::linspace(0.5, 3.0, d, torch::kDouble);
    const auto y = x.matmul(torch::randn({d, 1}, torch::kDouble)) + 0.1 * torch::randn({n, 1}, torch::kDouble);
    // loss = mean((x w - y)^2): Hessian 2 xᵀx / n, L its largest eigenvalue.
    const auto hessian = 2 * x.t().matmul(x) / n;
    auto v = torch::ones({d, 1}, torch::kDouble);
    for (int i = 0; i < 500; ++i) v = hessian.matmul(v) / hessian.matmul(v).norm();
    const double L = (v.t().matmul(hessian).matmul(v)).item<double>();

    torch::nn::Linear model(torch::nn::LinearOptions(d, 1).bias(false));
    model->to(torch::kDouble);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1));
    const auto r = torchlr::lr_find(*model, sgd, [&] { return torch::mse_loss(model->forward(x), y); },
                                    quiet().min_lr(1e-4 / L).max_lr(100 / L));
    const auto lr = r.suggestion(torchlr::Suggestion::steepest);
    ASSERT_TRUE(lr.has_value());
    EXPECT_GT(*lr, 1 / (20 * L));
    EXPECT_LT(*lr, 2 / L);
    // The default without trials (a loss function): fastai's valley, on the stable side too.
    const auto automatic = r.suggestion();
    ASSERT_TRUE(automatic.has_value());
    EXPECT_EQ(automatic, r.suggestion(torchlr::Suggestion::valley));
    EXPECT_GT(*automatic, 1 / (100 * L));
    EXPECT_LT(*automatic, 2 / L);
  }
}

TEST(Suggestion, ApplyWritesItIntoEveryGroup) {
  Scripted s({5, 4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1});
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(14).skip_begin(0));
  const double lr = r.apply(sgd);
  EXPECT_EQ(lr, *r.suggestion());
  EXPECT_EQ(sgd.param_groups()[0].options().get_lr(), lr);
  const auto empty = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(5));
  EXPECT_FALSE(empty.suggestion());
  EXPECT_VALUE_ERROR(empty.apply(sgd), "no suggestion to apply");
}

// ---- outputs --------------------------------------------------------------------------------

TEST(Output, CsvJsonAndSvg) {
  Scripted s({3, 2.5, 2, 1.5, 1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.5, 0.9, 2.0, 9.0});
  torch::optim::SGD sgd(s.model->parameters(), torch::optim::SGDOptions(0.5));
  const auto r = torchlr::lr_find(*s.model, sgd, [&] { return s.next(); }, quiet().num_iter(17).skip_begin(2));
  const auto dir = std::filesystem::temp_directory_path() / ("torchlr_output_" + std::to_string(torchlr::platform::process_id()));
  std::filesystem::create_directories(dir);
  r.to_csv((dir / "r.csv").string());
  r.to_json((dir / "r.json").string());
  r.plot_svg((dir / "r.svg").string());

  std::ifstream csv(dir / "r.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "step,lr,loss,smoothed_loss");
  std::size_t rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, r.lrs().size());

  std::ifstream json_in(dir / "r.json");
  const auto json = nlohmann::json::parse(json_in);
  EXPECT_EQ(json["lrs"].get<std::vector<double>>(), r.lrs());  // 17 digits: exact round trip
  EXPECT_EQ(json["losses"].get<std::vector<double>>(), r.losses());
  EXPECT_EQ(json["stop_reason"], torchlr::to_string(r.stop_reason()));
  EXPECT_EQ(json["suggestion"].get<double>(), *r.suggestion());

  std::ifstream svg_in(dir / "r.svg");
  const std::string svg((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("learning rate (log scale)"), std::string::npos);
  EXPECT_NE(svg.find("smoothed loss"), std::string::npos);
  EXPECT_NE(svg.find("suggested lr"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
