#include "state_archive_impl.h"

#include <cmath>
#include <sstream>

#include <c10/util/Exception.h>

#include "internal.h"

namespace torchlr::detail {

void ArchiveWriter::field(const std::string& key, double& value) { archive_.write(key, c10::IValue(value)); }
void ArchiveWriter::field(const std::string& key, int64_t& value) { archive_.write(key, c10::IValue(value)); }
void ArchiveWriter::field(const std::string& key, bool& value) { archive_.write(key, c10::IValue(value)); }
void ArchiveWriter::field(const std::string& key, std::string& value) { archive_.write(key, c10::IValue(value)); }
void ArchiveWriter::field(const std::string& key, std::vector<double>& value) { archive_.write(key, c10::IValue(value)); }
void ArchiveWriter::field(const std::string& key, std::vector<int64_t>& value) { archive_.write(key, c10::IValue(value)); }

void ArchiveWriter::nested(const std::string& key, const std::function<void(StateArchive&)>& body) {
  torch::serialize::OutputArchive child(archive_.compilation_unit());
  ArchiveWriter writer(child);
  body(writer);
  archive_.write(key, child);
}

c10::IValue ArchiveReader::read(const std::string& key) {
  c10::IValue value;
  bool found = false;
  try {
    found = archive_.try_read(key, value);
  } catch (const c10::Error& e) {
    TORCH_CHECK_VALUE(false, "scheduler checkpoint: cannot read entry '", key,
                      "': ", e.what_without_backtrace());
  }
  TORCH_CHECK_VALUE(found, "scheduler checkpoint: entry '", key,
                    "' is missing (not a torchlr scheduler checkpoint, or a truncated one)");
  return value;
}

namespace {
[[noreturn]] void wrong_type(const std::string& key, const char* expected, const c10::IValue& v) {
  TORCH_CHECK_VALUE(false, "scheduler checkpoint: entry '", key, "' should be ", expected,
                    ", but it holds ", v.tagKind());
}
}  // namespace

void ArchiveReader::field(const std::string& key, double& value) {
  const auto v = read(key);
  if (!v.isDouble()) wrong_type(key, "a float", v);
  value = v.toDouble();
}

void ArchiveReader::field(const std::string& key, int64_t& value) {
  const auto v = read(key);
  if (!v.isInt()) wrong_type(key, "an int", v);
  value = v.toInt();
}

void ArchiveReader::field(const std::string& key, bool& value) {
  const auto v = read(key);
  if (!v.isBool()) wrong_type(key, "a bool", v);
  value = v.toBool();
}

void ArchiveReader::field(const std::string& key, std::string& value) {
  const auto v = read(key);
  if (!v.isString()) wrong_type(key, "a string", v);
  value = v.toStringRef();
}

void ArchiveReader::field(const std::string& key, std::vector<double>& value) {
  const auto v = read(key);
  if (!v.isDoubleList()) wrong_type(key, "a list of floats", v);
  value = v.toDoubleVector();
}

void ArchiveReader::field(const std::string& key, std::vector<int64_t>& value) {
  const auto v = read(key);
  if (!v.isIntList()) wrong_type(key, "a list of ints", v);
  value = v.toIntVector();
}

void ArchiveReader::nested(const std::string& key, const std::function<void(StateArchive&)>& body) {
  torch::serialize::InputArchive child;
  bool found = false;
  try {
    found = archive_.try_read(key, child);
  } catch (const c10::Error& e) {
    TORCH_CHECK_VALUE(false, "scheduler checkpoint: cannot read entry '", key,
                      "': ", e.what_without_backtrace());
  }
  TORCH_CHECK_VALUE(found, "scheduler checkpoint: entry '", key, "' is missing");
  ArchiveReader reader(child);
  body(reader);
}

void save_state(torch::serialize::OutputArchive& archive,
                const std::function<void(StateArchive&)>& visit) {
  ArchiveWriter writer(archive);
  visit(writer);
}

void load_state(torch::serialize::InputArchive& archive,
                const std::function<void(StateArchive&)>& visit) {
  std::stringstream snapshot;
  {
    torch::serialize::OutputArchive out;
    save_state(out, visit);
    out.save_to(snapshot);
  }
  try {
    ArchiveReader reader(archive);
    visit(reader);
  } catch (...) {
    torch::serialize::InputArchive in;
    in.load_from(snapshot);
    ArchiveReader reader(in);
    visit(reader);
    throw;
  }
}

void optimizer_lrs_field(StateArchive& archive, torch::optim::Optimizer& optimizer,
                         const std::string& owner) {
  auto& groups = optimizer.param_groups();
  std::vector<double> lrs;
  for (const auto& group : groups) lrs.push_back(group.options().get_lr());
  archive.field("optimizer_lrs", lrs);
  if (!archive.loading()) return;
  TORCH_CHECK_VALUE(lrs.size() == groups.size(), owner,
                    ": the checkpoint's optimizer_lrs do not have one value per param group");
  check_all_finite_in_checkpoint(owner, "optimizer_lrs", lrs);
  for (std::size_t g = 0; g < groups.size(); ++g) groups[g].options().set_lr(lrs[g]);
}

}  // namespace torchlr::detail
