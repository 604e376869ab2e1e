#pragma once

// StateArchive over LibTorch's serialize archives (internal).

#include <functional>
#include <string>

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <torchlr/state_archive.h>

namespace torchlr::detail {

/// Saves each field as an IValue of its own type, so doubles keep all their bits (a tensor
/// made from a std::vector<double> would default to float32).
class ArchiveWriter final : public StateArchive {
 public:
  explicit ArchiveWriter(torch::serialize::OutputArchive& archive) : archive_(archive) {}
  bool loading() const override { return false; }
  void field(const std::string& key, double& value) override;
  void field(const std::string& key, int64_t& value) override;
  void field(const std::string& key, bool& value) override;
  void field(const std::string& key, std::string& value) override;
  void field(const std::string& key, std::vector<double>& value) override;
  void field(const std::string& key, std::vector<int64_t>& value) override;
  void nested(const std::string& key, const std::function<void(StateArchive&)>& body) override;

 private:
  torch::serialize::OutputArchive& archive_;
};

/// Reads each field back, refusing a missing or ill-typed entry with c10::ValueError.
class ArchiveReader final : public StateArchive {
 public:
  explicit ArchiveReader(torch::serialize::InputArchive& archive) : archive_(archive) {}
  bool loading() const override { return true; }
  void field(const std::string& key, double& value) override;
  void field(const std::string& key, int64_t& value) override;
  void field(const std::string& key, bool& value) override;
  void field(const std::string& key, std::string& value) override;
  void field(const std::string& key, std::vector<double>& value) override;
  void field(const std::string& key, std::vector<int64_t>& value) override;
  void nested(const std::string& key, const std::function<void(StateArchive&)>& body) override;

 private:
  c10::IValue read(const std::string& key);
  torch::serialize::InputArchive& archive_;
};

/// Saves what `visit` describes.
void save_state(torch::serialize::OutputArchive& archive,
                const std::function<void(StateArchive&)>& visit);

/// Loads what `visit` describes, all or nothing: the current state is first saved in memory
/// through the same `visit`, and put back if reading fails anywhere.
void load_state(torch::serialize::InputArchive& archive,
                const std::function<void(StateArchive&)>& visit);

/// The lr of every param group, through `archive` (read, or written into the optimizer).
void optimizer_lrs_field(StateArchive& archive, torch::optim::Optimizer& optimizer,
                         const std::string& owner);

}  // namespace torchlr::detail
