#pragma once

// Scheduler configs from JSON (nlohmann::json, or JSON text), for programs that keep them in
// files. Header-only: the torchlr library itself does not depend on a JSON library; a program
// that includes this header links nlohmann_json itself
// (`find_package(nlohmann_json 3 REQUIRED)`, `target_link_libraries(app PRIVATE nlohmann_json::nlohmann_json)`).
//
//     std::ifstream file("schedule.json");
//     auto scheduler = torchlr::make_scheduler(optimizer, torchlr::config_from_json(nlohmann::json::parse(file)));

#include <cstdint>
#include <limits>
#include <string>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <torchlr/config.h>

namespace torchlr {

/// The JSON value as a ConfigValue: objects become nested Configs, arrays lists; integers stay
/// integers (an unsigned one beyond int64_t becomes a float, which integer arguments refuse).
inline ConfigValue config_value_from_json(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
      return ConfigValue();
    case nlohmann::json::value_t::boolean:
      return json.get<bool>();
    case nlohmann::json::value_t::number_integer:
      return json.get<int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
      const auto value = json.get<uint64_t>();
      if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return static_cast<int64_t>(value);
      return static_cast<double>(value);
    }
    case nlohmann::json::value_t::number_float:
      return json.get<double>();
    case nlohmann::json::value_t::string:
      return json.get<std::string>();
    case nlohmann::json::value_t::array: {
      ConfigValue::List list;
      list.reserve(json.size());
      for (const auto& item : json) list.push_back(config_value_from_json(item));
      return list;
    }
    case nlohmann::json::value_t::object: {
      Config config;
      for (auto it = json.begin(); it != json.end(); ++it) config.set(it.key(), config_value_from_json(it.value()));
      return config;
    }
    default:  // binary values and the parser's "discarded" marker
      C10_THROW_ERROR(ValueError, c10::str("a config cannot hold the JSON value ", json.dump()));
  }
}

/// A scheduler config from a JSON object; anything else is a c10::ValueError naming `path`.
inline Config config_from_json(const nlohmann::json& json, const std::string& path = "scheduler") {
  TORCH_CHECK_VALUE(json.is_object(), path, " must be a JSON object, but got ", json.dump());
  return config_value_from_json(json).as_config();
}

/// A scheduler config from JSON text; text that is not JSON is a c10::ValueError.
inline Config config_from_json_text(const std::string& text, const std::string& path = "scheduler") {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  TORCH_CHECK_VALUE(!json.is_discarded(), path, " is not valid JSON");
  return config_from_json(json, path);
}

}  // namespace torchlr
