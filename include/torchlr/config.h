#pragma once

// A scheduler's configuration as plain C++ values: PyTorch's keyword arguments, with no JSON
// library involved. `Config` is the trace format's `scheduler` object (docs/trace-format.md):
//
//     torchlr::Config cosine{{"name", "CosineAnnealingLR"}, {"T_max", 20}, {"eta_min", 1e-3}};
//     torchlr::Config warmup{{"name", "SequentialLR"},
//                            {"schedulers", {torchlr::Config{{"name", "LinearLR"}}, cosine}},
//                            {"milestones", {5}}};
//
// Inner braces make a list (`{"milestones", {5}}` is `[5]`); a `Config` inside a list is a
// nested scheduler (a composite's child).

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace torchlr {

class Config;

/// One argument value: None, a bool, an integer, a float, a string, a list of values, or a
/// nested `Config`. Integers and floats stay apart, as in Python: an integer argument refuses
/// `2.0`, a float argument takes `2`.
class ConfigValue {
 public:
  using List = std::vector<ConfigValue>;

  /// None (Python's `None`, JSON's `null`).
  ConfigValue() = default;
  /* implicit */ ConfigValue(std::nullptr_t) {}
  /* implicit */ ConfigValue(bool value) : value_(value) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  /* implicit */ ConfigValue(T value) : value_(static_cast<int64_t>(value)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  /* implicit */ ConfigValue(T value) : value_(static_cast<double>(value)) {}
  /* implicit */ ConfigValue(const char* value) : value_(std::string(value)) {}
  /* implicit */ ConfigValue(std::string value) : value_(std::move(value)) {}
  /* implicit */ ConfigValue(List values) : value_(std::move(values)) {}
  /* implicit */ ConfigValue(std::initializer_list<ConfigValue> values) : value_(List(values)) {}
  template <typename T>
  /* implicit */ ConfigValue(const std::vector<T>& values) : value_(List(values.begin(), values.end())) {}
  /* implicit */ ConfigValue(Config config);

  bool is_null() const noexcept { return std::holds_alternative<std::monostate>(value_); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(value_); }
  bool is_integer() const noexcept { return std::holds_alternative<int64_t>(value_); }
  bool is_float() const noexcept { return std::holds_alternative<double>(value_); }
  /// An integer or a float.
  bool is_number() const noexcept { return is_integer() || is_float(); }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(value_); }
  bool is_list() const noexcept { return std::holds_alternative<List>(value_); }
  bool is_config() const noexcept { return std::holds_alternative<std::shared_ptr<const Config>>(value_); }

  // Accessors for a value of that kind (anything else is std::bad_variant_access).
  bool as_bool() const { return std::get<bool>(value_); }
  int64_t as_integer() const { return std::get<int64_t>(value_); }
  /// An integer or a float, as a double.
  double as_number() const { return is_integer() ? static_cast<double>(as_integer()) : std::get<double>(value_); }
  const std::string& as_string() const { return std::get<std::string>(value_); }
  const List& as_list() const { return std::get<List>(value_); }
  const Config& as_config() const { return *std::get<std::shared_ptr<const Config>>(value_); }

  /// The value as JSON text (`0.5`, `"cos"`, `[1,2]`, `{"name":"StepLR"}`), for messages.
  std::string dump() const;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, List, std::shared_ptr<const Config>> value_;
};

/// A scheduler's configuration: its `name` and its keyword arguments, each under its PyTorch
/// name. Keys are kept sorted; a key holds one value.
class Config {
 public:
  using Map = std::map<std::string, ConfigValue>;

  Config() = default;
  Config(std::initializer_list<Map::value_type> entries) : entries_(entries) {}
  explicit Config(Map entries) : entries_(std::move(entries)) {}

  bool contains(const std::string& key) const { return entries_.count(key) == 1; }
  /// The value under `key`; a missing key is std::out_of_range.
  const ConfigValue& at(const std::string& key) const { return entries_.at(key); }
  /// Sets (or replaces) one entry; returns *this for chaining.
  Config& set(const std::string& key, ConfigValue value) {
    entries_[key] = std::move(value);
    return *this;
  }
  bool erase(const std::string& key) { return entries_.erase(key) == 1; }

  const Map& entries() const noexcept { return entries_; }
  Map::const_iterator begin() const noexcept { return entries_.begin(); }
  Map::const_iterator end() const noexcept { return entries_.end(); }
  std::size_t size() const noexcept { return entries_.size(); }

  /// The config as JSON text, keys in sorted order.
  std::string dump() const;

 private:
  Map entries_;
};

inline ConfigValue::ConfigValue(Config config) : value_(std::make_shared<const Config>(std::move(config))) {}

}  // namespace torchlr
