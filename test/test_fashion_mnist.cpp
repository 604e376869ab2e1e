// The real-data path: Fashion-MNIST read from Debian's files, the demo's sampler and network, and
// the range test plus OneCycleLR on a few hundred images of it (the full run is the demo's).
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/data.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/serialize.h>

#include <torchlr/torchlr.h>

#include "finder_support.h"
#include "support/fashion_mnist.h"

namespace {

namespace fm = fashion_mnist;

// Values read with Python's gzip module from the same files.
TEST(FashionMnist, ReadsDebiansFiles) {
  const auto train = fm::read(fm::default_dir(), fm::Split::kTrain, 300);
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{300, 28, 28}));
  EXPECT_EQ(train.images.scalar_type(), torch::kUInt8);
  ASSERT_EQ(train.labels.sizes(), (std::vector<int64_t>{300}));
  EXPECT_EQ(train.labels.scalar_type(), torch::kLong);
  const std::vector<int64_t> first_labels = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(train.labels[i].item<int64_t>(), first_labels[static_cast<size_t>(i)]);
  EXPECT_EQ(train.images[0].to(torch::kLong).sum().item<int64_t>(), 76247);
  EXPECT_EQ(train.images[299].to(torch::kLong).sum().item<int64_t>(), 58490);
  // The limit reads only what it needs: the 300th image is the same read with more.
  EXPECT_TRUE(torch::equal(fm::read(fm::default_dir(), fm::Split::kTrain, 1000).images[299], train.images[299]));

  const auto test = fm::read(fm::default_dir(), fm::Split::kTest);
  EXPECT_EQ(test.labels.size(0), 10000);
  const std::vector<int64_t> first_test_labels = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(test.labels[i].item<int64_t>(), first_test_labels[static_cast<size_t>(i)]);
  EXPECT_EQ(test.images[0].to(torch::kLong).sum().item<int64_t>(), 33456);
  // Every class 1000 times.
  EXPECT_TRUE(torch::equal(test.labels.bincount(), torch::full({10}, 1000, torch::kLong)));
}

TEST(FashionMnist, TheNormalisationConstantsAreTheTrainingSetsOwn) {
  const auto train = fm::read(fm::default_dir(), fm::Split::kTrain);
  EXPECT_EQ(train.labels.size(0), 60000);
  const auto pixels = train.images.to(torch::kDouble).div(255);
  EXPECT_NEAR(pixels.mean().item<double>(), fm::kPixelMean, 5e-5);
  EXPECT_NEAR(pixels.std(/*unbiased=*/false).item<double>(), fm::kPixelStd, 5e-5);
}

void ExpectErrorContaining(const std::function<void()>& call, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "no exception; expected one containing: " << needle;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, AMissingFolderNamesThePackageToInstall) {
  const auto missing = std::filesystem::temp_directory_path() / "torchlr-no-such-folder";
  ExpectErrorContaining([&] { fm::read(missing, fm::Split::kTrain); }, "apt-get install dataset-fashion-mnist");
  ExpectErrorContaining([&] { fm::read(missing, fm::Split::kTrain); },
                        (missing / "train-images-idx3-ubyte.gz").string() + " not found");
  EXPECT_THROW(fm::read(fm::default_dir(), fm::Split::kTest, 0), c10::ValueError);
}

// A folder of uncompressed IDX files written here: what a user's own copy may hold.
class IdxFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("torchlr-idx-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
    std::ofstream out(dir_ / name, std::ios::binary);
    auto word = [&](uint32_t v) {
      const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                             static_cast<char>(v)};
      out.write(bytes, 4);
    };
    word(magic);
    for (uint32_t d : dims) word(d);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
  void WriteTest(uint32_t images, const std::vector<uint8_t>& labels, uint32_t image_magic = 0x803) {
    std::vector<uint8_t> pixels(images * 28 * 28);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i % 251);
    Write("t10k-images-idx3-ubyte", image_magic, {images, 28, 28}, pixels);
    Write("t10k-labels-idx1-ubyte", 0x801, {static_cast<uint32_t>(labels.size())}, labels);
  }
  std::filesystem::path dir_;
};

TEST_F(IdxFolder, ReadsUncompressedFiles) {
  WriteTest(3, {4, 0, 9});
  const auto data = fm::read(dir_, fm::Split::kTest);
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({4, 0, 9}, torch::kLong)));
  EXPECT_EQ(data.images[2][27][27].item<int>(), (3 * 784 - 1) % 251);
}

TEST_F(IdxFolder, RefusesWhatIsNotFashionMnist) {
  WriteTest(3, {4, 0, 9}, /*image_magic=*/0x802);
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "is not an IDX file of unsigned bytes with 3");
  WriteTest(3, {4, 0});
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "holds 3 images but t10k-labels-idx1-ubyte 2 labels");
  WriteTest(3, {4, 10, 9});
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "holds label 10, expected 0 to 9");
  Write("t10k-images-idx3-ubyte", 0x803, {3, 28, 28}, std::vector<uint8_t>(784 * 2));
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "t10k-images-idx3-ubyte ends early");
  Write("t10k-images-idx3-ubyte", 0x803, {0, 28, 28}, {});
  Write("t10k-labels-idx1-ubyte", 0x801, {0}, {});
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "t10k-images-idx3-ubyte says it holds 0 images");
  Write("t10k-images-idx3-ubyte", 0x803, {0xffffffffu, 28, 28}, {});
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "says it holds 4294967295 images");
  Write("t10k-images-idx3-ubyte", 0x803, {3, 32, 32}, std::vector<uint8_t>(3 * 32 * 32));
  ExpectErrorContaining([&] { fm::read(dir_, fm::Split::kTest); }, "holds 32x32 images, expected 28x28");
}

TEST(FashionMnist, BatchesAreNormalisedImagesInTheRequestedOrder) {
  auto data = fm::read(fm::default_dir(), fm::Split::kTest, 50);
  const auto images = data.images, labels = data.labels;
  fm::Dataset dataset(std::move(data));
  EXPECT_EQ(dataset.size().value(), 50u);
  const std::vector<size_t> indices = {7, 3, 49};
  const auto batch = dataset.get_batch(indices);
  ASSERT_EQ(batch.data.sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
  for (size_t i = 0; i < indices.size(); ++i) {
    const auto k = static_cast<int64_t>(indices[i]);
    EXPECT_EQ(batch.target[static_cast<int64_t>(i)].item<int64_t>(), labels[k].item<int64_t>());
    const auto expected = (images[k].to(torch::kFloat) / 255 - fm::kPixelMean) / fm::kPixelStd;
    EXPECT_TRUE(torch::allclose(batch.data[static_cast<int64_t>(i)][0], expected, 1e-6, 1e-6));
  }
}

// The first indices of torch.randperm(60000, generator=torch.Generator().manual_seed(s)), and
// sum(i * perm[i]), printed by PyTorch 1.13 and 2.6 alike.
TEST(FashionMnist, TheShuffleIsPythonsRandperm) {
  fm::SeededShuffle shuffle(60000, 1);
  const std::vector<std::vector<size_t>> first = {{35845, 27522, 33254, 23645, 11299, 16178, 58355, 27002},
                                                  {43848, 54736, 56013, 37602, 59754, 51214, 42432, 44443}};
  const std::vector<int64_t> weighted = {54051541603727, 53921108777172};
  for (size_t epoch = 0; epoch < 2; ++epoch) {
    shuffle.reset();
    EXPECT_EQ(shuffle.next(8).value(), first[epoch]);
    int64_t position = 8, sum = 0;
    for (size_t i = 0; i < 8; ++i) sum += static_cast<int64_t>(i * first[epoch][i]);
    while (auto batch = shuffle.next(1000)) {
      for (size_t index : *batch) sum += position++ * static_cast<int64_t>(index);
    }
    EXPECT_EQ(position, 60000);
    EXPECT_EQ(sum, weighted[epoch]);
  }
  EXPECT_EQ(shuffle.resets(), 2);
}

std::string Saved(const fm::SeededShuffle& shuffle) {
  torch::serialize::OutputArchive archive;
  shuffle.save(archive);
  std::stringstream stream;
  archive.save_to(stream);
  return stream.str();
}

void Load(fm::SeededShuffle& shuffle, const std::string& bytes) {
  std::stringstream stream(bytes);
  torch::serialize::InputArchive input;
  input.load_from(stream);
  shuffle.load(input);
}

TEST(FashionMnist, TheShuffleResumesFromACheckpoint) {
  fm::SeededShuffle shuffle(100, 5);
  shuffle.reset();
  shuffle.reset();
  shuffle.next(30);
  const std::string saved = Saved(shuffle);
  const auto rest = shuffle.next(1000).value();
  EXPECT_EQ(rest.size(), 70u);

  fm::SeededShuffle resumed(100, 0);
  Load(resumed, saved);
  EXPECT_EQ(resumed.next(1000).value(), rest);
  EXPECT_EQ(resumed.resets(), shuffle.resets());
  EXPECT_FALSE(resumed.next(1).has_value());
  // The next epoch is the one the original draws next.
  shuffle.reset();
  resumed.reset();
  EXPECT_EQ(resumed.next(1000), shuffle.next(1000));
}

TEST(FashionMnist, TheShuffleRefusesACheckpointOfAnotherSize) {
  fm::SeededShuffle shuffle(100, 5);
  shuffle.reset();
  fm::SeededShuffle other(99, 5), twin(99, 5);
  other.reset();
  twin.reset();
  EXPECT_EQ(other.next(10), twin.next(10));
  try {
    Load(other, Saved(shuffle));
    ADD_FAILURE() << "loaded a checkpoint of 100 examples into a sampler of 99";
  } catch (const c10::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("the checkpoint orders 100 examples, this sampler 99"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(other.next(10), twin.next(10));  // the refused load changed nothing
  EXPECT_EQ(other.resets(), 1);
}

TEST(FashionMnist, TheShuffleSavedBeforeItsFirstEpochStillWaitsForReset) {
  fm::SeededShuffle fresh(10, 3);
  fm::SeededShuffle resumed(10, 0);
  resumed.reset();
  Load(resumed, Saved(fresh));
  EXPECT_EQ(resumed.resets(), 0);
  EXPECT_THROW(resumed.next(1), c10::Error);
  resumed.reset();
  fresh.reset();
  EXPECT_EQ(resumed.next(10), fresh.next(10));
}

// The loader keeps its own copy of the sampler; the seeds it drew are still visible.
TEST(FashionMnist, TheSeedsALoaderDrewAreVisibleThroughItsCopy) {
  auto data = fm::read(fm::default_dir(), fm::Split::kTest, 100);
  fm::SeededShuffle shuffle(100, 40);
  const auto drawn = shuffle.drawn_seeds();
  auto loader = torch::data::make_data_loader(fm::Dataset(std::move(data)), std::move(shuffle),
                                              torch::data::DataLoaderOptions().batch_size(32));
  EXPECT_TRUE(drawn->empty());
  for (int epoch = 0; epoch < 3; ++epoch) {
    int64_t seen = 0;
    for (auto& batch : *loader) seen += batch.target.size(0);
    EXPECT_EQ(seen, 100);
  }
  EXPECT_EQ(*drawn, (std::vector<uint64_t>{40, 41, 42}));
}

TEST(FashionMnist, CommandLineValuesAreChecked) {
  EXPECT_EQ(fm::integer_option("--seeds", "3", 1), 3);
  for (const char* bad : {"0", "-1", "3x", "", "x"}) {
    try {
      fm::integer_option("--seeds", bad, 1);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const c10::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("--seeds takes an integer >= 1, got '") + bad + "'"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_DOUBLE_EQ(fm::number_option("--min-accuracy", "0.9", 0, 1), 0.9);
  EXPECT_THROW(fm::number_option("--min-accuracy", "nan", 0, 1), c10::ValueError);
  EXPECT_THROW(fm::number_option("--min-accuracy", "1.5", 0, 1), c10::ValueError);
  EXPECT_EQ(fm::threads_to_use(3), 3);

  std::vector<std::string> args = {"prog", "--epochs", "2", "--out", "a", "--epochs", "5"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  const auto options = fm::parse_options(static_cast<int>(argv.size()), argv.data(), {"--epochs", "--out"});
  EXPECT_EQ(options, (std::map<std::string, std::string>{{"--epochs", "5"}, {"--out", "a"}}));
  try {
    fm::parse_options(static_cast<int>(argv.size()), argv.data(), {"--epochs"});
    ADD_FAILURE() << "accepted --out";
  } catch (const c10::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown option '--out'"), std::string::npos) << e.what();
  }
  try {
    fm::parse_options(3, argv.data() + 1, {"--epochs", "--out"});  // "--epochs 2 --out": "2" is no option
    ADD_FAILURE() << "accepted a value without an option";
  } catch (const c10::ValueError&) {
  }
  try {
    fm::parse_options(2, argv.data(), {"--epochs"});  // "--epochs" without its value
    ADD_FAILURE() << "accepted --epochs without a value";
  } catch (const c10::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("--epochs needs a value"), std::string::npos) << e.what();
  }
}

// The demo on a slice: the range test through a loader with worker threads leaves the network
// and Adam as they were, then OneCycleLR at the suggested lr trains it well above chance.
TEST(FashionMnist, RangeTestThenOneCycleOnASlice) {
  const int64_t slice = 512;
  auto train = fm::read(fm::default_dir(), fm::Split::kTrain, slice);
  auto test = fm::read(fm::default_dir(), fm::Split::kTest, slice);
  const auto test_images = fm::normalize(test.images);
  auto loader = torch::data::make_data_loader(fm::Dataset(std::move(train)), fm::SeededShuffle(slice, 1),
                                              torch::data::DataLoaderOptions().batch_size(64).workers(2));
  torch::manual_seed(0);
  fm::ConvNet model;
  const fm::Recipe recipe;
  torch::optim::Adam optimizer(model.parameters(), torch::optim::AdamOptions(recipe.adam_lr));
  auto cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& target) {
    return torch::nn::functional::cross_entropy(logits, target);
  };
  torch::manual_seed(99);  // the fingerprint draws from the generator to record it
  const torchlr::testing::Fingerprint before(model, optimizer);
  torch::manual_seed(99);
  const auto found = torchlr::lr_find(model, optimizer, *loader, cross_entropy,
                                      torchlr::LRFinderOptions()
                                          .min_lr(recipe.finder_min_lr)
                                          .max_lr(recipe.finder_max_lr)
                                          .num_iter(40)
                                          .progress_bar(false));
  torchlr::testing::Fingerprint(model, optimizer).ExpectSame(before);
  const auto suggestion = found.suggest();
  ASSERT_TRUE(suggestion.lr.has_value()) << suggestion.reason;
  EXPECT_GT(*suggestion.lr, recipe.finder_min_lr);
  EXPECT_LT(*suggestion.lr, recipe.finder_max_lr);

  const double untrained = fm::accuracy(model, test_images, test.labels);
  const int64_t epochs = 4, batches = slice / 64;
  torchlr::OneCycleLR scheduler(optimizer, torchlr::OneCycleLROptions(*suggestion.lr).epochs(epochs).steps_per_epoch(batches));
  int64_t steps = 0;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    for (auto& batch : *loader) {
      optimizer.zero_grad();
      cross_entropy(model.forward(batch.data), batch.target).backward();
      optimizer.step();
      scheduler.step();
      ++steps;
    }
  }
  EXPECT_EQ(steps, epochs * batches);  // the finder left the loader at an epoch's start
  const double trained = fm::accuracy(model, test_images, test.labels);
  RecordProperty("accuracy", std::to_string(trained));
  EXPECT_GT(trained, 0.6) << "untrained " << untrained;
  EXPECT_LT(untrained, 0.3);
}

}  // namespace
