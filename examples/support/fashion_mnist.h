#pragma once
// Fashion-MNIST for the examples, the benchmark and the tests: the data set read from the gzipped
// IDX files Debian's `dataset-fashion-mnist` package installs (nothing is downloaded), the small
// convolutional network the demo trains, a sampler whose order a Python script can reproduce,
// and the recipe (batch size, epochs, finder range) stated once for all of them.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/data/datasets/base.h>
#include <torch/data/example.h>
#include <torch/data/samplers/base.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace fashion_mnist {

/// Where Debian's package `dataset-fashion-mnist` puts the four files.
inline const std::filesystem::path kDebianDir = "/usr/share/datasets/fashion-mnist";

/// The training set's per-pixel mean and standard deviation (of pixel / 255), computed from the
/// 60 000 training images; every image is normalised with them.
inline constexpr double kPixelMean = 0.2860;
inline constexpr double kPixelStd = 0.3530;

inline constexpr int64_t kClasses = 10;

/// The network's widths (ConvNet); the benchmark writes them out for the Python comparison.
inline constexpr int64_t kConv1Channels = 16;
inline constexpr int64_t kConv2Channels = 32;
inline constexpr int64_t kHiddenUnits = 128;

/// The recipe the demo runs and the benchmark compares against a grid search; the Python
/// comparison reads it from the benchmark's output, so it is stated here only.
struct Recipe {
  int64_t batch_size = 128;
  int64_t epochs = 3;
  double adam_lr = 1e-3;  // Adam's lr before any schedule writes it (the range test starts from its state)
  // The range test: exponential from min_lr to max_lr over num_iter batches.
  double finder_min_lr = 1e-5;
  double finder_max_lr = 1.0;
  int64_t finder_num_iter = 100;
};

enum class Split { kTrain, kTest };

/// Reads a split: images as uint8 [N, 28, 28], labels as int64 [N]. `limit` keeps the first
/// `limit` examples (all when empty). Reads `<name>.gz` or, when that is missing, `<name>`
/// uncompressed. Throws c10::Error naming the missing file and the package to install, or what
/// is wrong with a file that is not an IDX file of the expected shape.
struct Tensors {
  torch::Tensor images;
  torch::Tensor labels;
};
Tensors read(const std::filesystem::path& dir, Split split, std::optional<int64_t> limit = std::nullopt);

/// The folder holding the data: `$FASHION_MNIST_DIR` when set, else Debian's.
std::filesystem::path default_dir();

/// Normalised float images [N, 1, 28, 28] from uint8 ones [N, 28, 28].
torch::Tensor normalize(const torch::Tensor& images);

/// A LibTorch dataset over one split that gathers a whole batch with one index_select (instead
/// of one copy per image and a Stack), which is what keeps a CPU epoch short. Its batches are
/// `torch::data::Example<>` of normalised images [B, 1, 28, 28] and labels [B].
class Dataset : public torch::data::datasets::BatchDataset<Dataset, torch::data::Example<>> {
 public:
  explicit Dataset(Tensors data);
  torch::data::Example<> get_batch(c10::ArrayRef<size_t> indices) override;
  torch::optional<size_t> size() const override;

 private:
  Tensors data_;
};

/// A random order that Python can reproduce: after k earlier resets, the epoch's order is
/// `torch.randperm(n, generator=torch.Generator().manual_seed(seed + k))`.
class SeededShuffle : public torch::data::samplers::Sampler<> {
 public:
  SeededShuffle(size_t size, uint64_t seed);
  /// The seeds of the orders drawn so far, one per reset. A data loader keeps its own copy of
  /// the sampler; this list is shared with that copy, so it tells which orders the loader used.
  std::shared_ptr<const std::vector<uint64_t>> drawn_seeds() const { return drawn_; }
  void reset(torch::optional<size_t> new_size = torch::nullopt) override;
  torch::optional<std::vector<size_t>> next(size_t batch_size) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  /// Resets so far (the next epoch draws with seed + resets()).
  int64_t resets() const { return resets_; }

 private:
  size_t size_;
  uint64_t seed_;
  int64_t resets_ = 0;
  std::shared_ptr<std::vector<uint64_t>> drawn_ = std::make_shared<std::vector<uint64_t>>();
  torch::Tensor order_;
  size_t position_ = 0;
};

/// Two 3×3 convolutions (with batch norm, ReLU and 2×2 max pooling) and two linear layers.
/// bench/fashion_mnist_pytorch.py builds the same network in Python, layer for layer.
struct ConvNet : torch::nn::Module {
  ConvNet();
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

/// Command-line options of the form `--name value`, by name (a later one replaces an earlier
/// one). Throws c10::ValueError for a name not in `known` or a name without a value.
std::map<std::string, std::string> parse_options(int argc, char** argv, const std::vector<std::string>& known);

/// A command-line value: an integer of at least `at_least`, or a finite number in [low, high].
/// Throws c10::ValueError naming the option and what was given.
int64_t integer_option(const std::string& option, const std::string& text, int64_t at_least);
double number_option(const std::string& option, const std::string& text, double low, double high);

/// The intra-op threads to use: `requested` when given, else OMP_NUM_THREADS when that is set
/// (respected, as LibTorch does), else every core (Debian 12's LibTorch would start with one).
int threads_to_use(std::optional<int64_t> requested);

/// Test accuracy of `model` on normalised images, in eval mode, in batches (mode restored).
double accuracy(ConvNet& model, const torch::Tensor& images, const torch::Tensor& labels);

}  // namespace fashion_mnist
