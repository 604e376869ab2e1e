#include "fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <thread>
#include <cstdlib>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/pooling.h>
#include <torch/serialize/archive.h>
#include <torch/utils.h>

namespace fashion_mnist {
namespace {

constexpr int64_t kSide = 28;
constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Opens `<dir>/<name>.gz`, or `<dir>/<name>` (zlib reads an uncompressed file as it is).
GzFile open(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::path path = dir / (name + ".gz");
  if (!std::filesystem::exists(path)) path = dir / name;
  TORCH_CHECK(std::filesystem::exists(path), "Fashion-MNIST: ", (dir / (name + ".gz")).string(),
              " not found (nor uncompressed). Install Debian's package (apt-get install dataset-fashion-mnist, ",
              "which puts the files in ", kDebianDir.string(),
              "), or give the folder holding train-images-idx3-ubyte.gz, ",
              "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz ",
              "(--data DIR, or FASHION_MNIST_DIR)");
  GzFile file(gzopen(path.string().c_str(), "rb"));
  TORCH_CHECK(file, "Fashion-MNIST: cannot open ", path.string());
  return file;
}

void read_exactly(gzFile_s* file, void* out, size_t bytes, const std::string& name) {
  auto* cursor = static_cast<unsigned char*>(out);
  while (bytes > 0) {
    // gzread takes an unsigned count; read in chunks well below its limit.
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes, size_t{1} << 30));
    const int got = gzread(file, cursor, chunk);
    TORCH_CHECK(got > 0, "Fashion-MNIST: ", name, " ends early or is damaged (zlib: ",
                got < 0 ? gzerror(file, nullptr) : "end of file", ")");
    cursor += got;
    bytes -= static_cast<size_t>(got);
  }
}

uint32_t read_big_endian(gzFile_s* file, const std::string& name) {
  std::array<unsigned char, 4> bytes{};
  read_exactly(file, bytes.data(), bytes.size(), name);
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
}

// The IDX header: the magic number, then one big-endian count per dimension.
std::vector<int64_t> read_header(gzFile_s* file, uint32_t magic, const std::string& name) {
  const uint32_t found = read_big_endian(file, name);
  TORCH_CHECK(found == magic, "Fashion-MNIST: ", name, " is not an IDX file of unsigned bytes with ", magic & 0xff,
              " dimension(s) (magic number ", found, ", expected ", magic, ")");
  std::vector<int64_t> dims;
  for (uint32_t i = 0; i < (magic & 0xff); ++i) dims.push_back(read_big_endian(file, name));
  return dims;
}

std::string stem(Split split, bool images) {
  return std::string(split == Split::kTrain ? "train" : "t10k") + (images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte");
}

}  // namespace

Tensors read(const std::filesystem::path& dir, Split split, std::optional<int64_t> limit) {
  TORCH_CHECK_VALUE(!limit || *limit > 0, "Fashion-MNIST: limit must be positive, got ", limit.value_or(0));
  const std::string image_name = stem(split, true), label_name = stem(split, false);
  GzFile images_file = open(dir, image_name);
  GzFile labels_file = open(dir, label_name);
  const auto image_dims = read_header(images_file.get(), kImagesMagic, image_name);
  const auto label_dims = read_header(labels_file.get(), kLabelsMagic, label_name);
  TORCH_CHECK(image_dims[1] == kSide && image_dims[2] == kSide, "Fashion-MNIST: ", image_name, " holds ",
              image_dims[1], "x", image_dims[2], " images, expected 28x28");
  // A damaged count must not become a huge allocation: Fashion-MNIST's splits hold 60 000 and 10 000.
  TORCH_CHECK(image_dims[0] > 0 && image_dims[0] <= 10'000'000, "Fashion-MNIST: ", image_name, " says it holds ",
              image_dims[0], " images");
  TORCH_CHECK(image_dims[0] == label_dims[0], "Fashion-MNIST: ", image_name, " holds ", image_dims[0],
              " images but ", label_name, " ", label_dims[0], " labels");
  const int64_t count = limit ? std::min(*limit, image_dims[0]) : image_dims[0];

  Tensors out;
  out.images = torch::empty({count, kSide, kSide}, torch::kUInt8);
  read_exactly(images_file.get(), out.images.data_ptr<uint8_t>(), static_cast<size_t>(count * kSide * kSide), image_name);
  auto labels = torch::empty({count}, torch::kUInt8);
  read_exactly(labels_file.get(), labels.data_ptr<uint8_t>(), static_cast<size_t>(count), label_name);
  const int64_t largest = labels.max().item<int64_t>();
  TORCH_CHECK(largest < kClasses, "Fashion-MNIST: ", label_name, " holds label ", largest, ", expected 0 to 9");
  out.labels = labels.to(torch::kLong);
  return out;
}

std::filesystem::path default_dir() {
  const char* set = std::getenv("FASHION_MNIST_DIR");
  return set && *set ? std::filesystem::path(set) : kDebianDir;
}

torch::Tensor normalize(const torch::Tensor& images) {
  return images.unsqueeze(1).to(torch::kFloat).div_(255).sub_(kPixelMean).div_(kPixelStd);
}

Dataset::Dataset(Tensors data) : data_(std::move(data)) {}

torch::data::Example<> Dataset::get_batch(c10::ArrayRef<size_t> indices) {
  static_assert(sizeof(size_t) == sizeof(int64_t), "indices are read as int64");
  const auto index = torch::from_blob(const_cast<size_t*>(indices.data()), {static_cast<int64_t>(indices.size())},
                                      torch::kLong);
  return {normalize(data_.images.index_select(0, index)), data_.labels.index_select(0, index)};
}

torch::optional<size_t> Dataset::size() const { return static_cast<size_t>(data_.labels.size(0)); }

SeededShuffle::SeededShuffle(size_t size, uint64_t seed) : size_(size), seed_(seed) {}

void SeededShuffle::reset(torch::optional<size_t> new_size) {
  if (new_size) size_ = *new_size;
  const uint64_t seed = seed_ + static_cast<uint64_t>(resets_);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  order_ = torch::randperm(static_cast<int64_t>(size_), generator, torch::kLong);
  drawn_->push_back(seed);
  ++resets_;
  position_ = 0;
}

torch::optional<std::vector<size_t>> SeededShuffle::next(size_t batch_size) {
  TORCH_CHECK(order_.defined(), "SeededShuffle: next() before reset()");
  if (position_ >= size_) return torch::nullopt;
  const size_t end = std::min(size_, position_ + batch_size);
  const int64_t* order = order_.data_ptr<int64_t>();
  std::vector<size_t> batch(order + position_, order + end);
  position_ = end;
  return batch;
}

void SeededShuffle::save(torch::serialize::OutputArchive& archive) const {
  archive.write("size", torch::tensor(static_cast<int64_t>(size_)), /*is_buffer=*/true);
  archive.write("seed", torch::tensor(static_cast<int64_t>(seed_)), true);
  archive.write("resets", torch::tensor(resets_), true);
  archive.write("position", torch::tensor(static_cast<int64_t>(position_)), true);
}

void SeededShuffle::load(torch::serialize::InputArchive& archive) {
  torch::Tensor size, seed, resets, position;
  archive.read("size", size, true);
  archive.read("seed", seed, true);
  archive.read("resets", resets, true);
  archive.read("position", position, true);
  const int64_t saved_size = size.item<int64_t>(), saved_resets = resets.item<int64_t>();
  const int64_t saved_position = position.item<int64_t>();
  TORCH_CHECK_VALUE(saved_size == static_cast<int64_t>(size_), "SeededShuffle::load: the checkpoint orders ",
                    saved_size, " examples, this sampler ", size_);
  TORCH_CHECK_VALUE(saved_resets >= 0 && saved_position >= 0 && saved_position <= saved_size,
                    "SeededShuffle::load: a damaged checkpoint (resets ", saved_resets, ", position ", saved_position, ")");
  seed_ = static_cast<uint64_t>(seed.item<int64_t>());
  order_ = torch::Tensor();
  position_ = 0;
  resets_ = 0;
  if (saved_resets == 0) return;  // saved before its first epoch: nothing drawn yet
  resets_ = saved_resets - 1;     // redraw the saved epoch's order, then move to the position
  reset();
  position_ = static_cast<size_t>(saved_position);
}

ConvNet::ConvNet() {
  // Bias-free convolutions: the batch norm after each has its own.
  conv1 = register_module("conv1",
                          torch::nn::Conv2d(torch::nn::Conv2dOptions(1, kConv1Channels, 3).padding(1).bias(false)));
  norm1 = register_module("norm1", torch::nn::BatchNorm2d(kConv1Channels));
  conv2 = register_module(
      "conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(kConv1Channels, kConv2Channels, 3).padding(1).bias(false)));
  norm2 = register_module("norm2", torch::nn::BatchNorm2d(kConv2Channels));
  // Two 2x2 poolings take 28x28 to 7x7.
  fc1 = register_module("fc1", torch::nn::Linear(kConv2Channels * 7 * 7, kHiddenUnits));
  fc2 = register_module("fc2", torch::nn::Linear(kHiddenUnits, kClasses));
}

torch::Tensor ConvNet::forward(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  auto h = F::max_pool2d(torch::relu(norm1->forward(conv1->forward(x))), F::MaxPool2dFuncOptions(2));
  h = F::max_pool2d(torch::relu(norm2->forward(conv2->forward(h))), F::MaxPool2dFuncOptions(2));
  return fc2->forward(torch::relu(fc1->forward(h.flatten(1))));
}

std::map<std::string, std::string> parse_options(int argc, char** argv, const std::vector<std::string>& known) {
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    TORCH_CHECK_VALUE(std::find(known.begin(), known.end(), name) != known.end(), "unknown option '", name, "'");
    TORCH_CHECK_VALUE(i + 1 < argc, name, " needs a value");
    values[name] = argv[++i];
  }
  return values;
}

int64_t integer_option(const std::string& option, const std::string& text, int64_t at_least) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TORCH_CHECK_VALUE(used == text.size() && !text.empty() && value >= at_least, option, " takes an integer >= ",
                    at_least, ", got '", text, "'");
  return value;
}

double number_option(const std::string& option, const std::string& text, double low, double high) {
  size_t used = 0;
  double value = std::nan("");
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  TORCH_CHECK_VALUE(used == text.size() && !text.empty() && value >= low && value <= high, option,
                    " takes a number in [", low, ", ", high, "], got '", text, "'");
  return value;
}

int threads_to_use(std::optional<int64_t> requested) {
  if (requested) return static_cast<int>(*requested);
  const char* set = std::getenv("OMP_NUM_THREADS");
  if (set && *set) return static_cast<int>(integer_option("OMP_NUM_THREADS", set, 1));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

double accuracy(ConvNet& model, const torch::Tensor& images, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  int64_t correct = 0;
  for (int64_t start = 0; start < labels.size(0); start += 1000) {
    const int64_t end = std::min(labels.size(0), start + 1000);
    correct += model.forward(images.slice(0, start, end)).argmax(1).eq(labels.slice(0, start, end)).sum().item<int64_t>();
  }
  model.train(was_training);
  return static_cast<double>(correct) / static_cast<double>(labels.size(0));
}

}  // namespace fashion_mnist
