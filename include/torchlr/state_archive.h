#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace torchlr {

/// One interface for both directions of a checkpoint: a scheduler describes its state once,
/// in `LRScheduler::serialize(StateArchive&)`, by naming each field; when saving the archive
/// reads the field, when loading it overwrites it. Keeping one description means the save and
/// load paths cannot drift apart.
///
/// A missing or ill-typed entry while loading throws `c10::ValueError` naming the key;
/// `LRScheduler::load` then puts every field back as it was.
class StateArchive {
 public:
  virtual ~StateArchive() = default;

  /// True when the fields are being overwritten from a checkpoint.
  virtual bool loading() const = 0;

  virtual void field(const std::string& key, double& value) = 0;
  virtual void field(const std::string& key, int64_t& value) = 0;
  virtual void field(const std::string& key, bool& value) = 0;
  virtual void field(const std::string& key, std::string& value) = 0;
  virtual void field(const std::string& key, std::vector<double>& value) = 0;
  virtual void field(const std::string& key, std::vector<int64_t>& value) = 0;

  /// A sub-archive under `key` (composite schedulers keep each child's state in one).
  virtual void nested(const std::string& key, const std::function<void(StateArchive&)>& body) = 0;
};

}  // namespace torchlr
