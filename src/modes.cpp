#include <torchlr/modes.h>

#include <c10/util/Exception.h>

namespace torchlr {
namespace {

// One table per enum: each value and PyTorch's string for it.
template <typename E>
struct Name {
  E value;
  const char* text;
};

constexpr Name<PlateauMode> kPlateauModes[] = {{PlateauMode::min, "min"}, {PlateauMode::max, "max"}};
constexpr Name<ThresholdMode> kThresholdModes[] = {{ThresholdMode::rel, "rel"}, {ThresholdMode::abs, "abs"}};
constexpr Name<CyclicMode> kCyclicModes[] = {{CyclicMode::triangular, "triangular"},
                                             {CyclicMode::triangular2, "triangular2"},
                                             {CyclicMode::exp_range, "exp_range"}};
constexpr Name<ScaleMode> kScaleModes[] = {{ScaleMode::cycle, "cycle"}, {ScaleMode::iterations, "iterations"}};
constexpr Name<AnnealStrategy> kAnnealStrategies[] = {{AnnealStrategy::cos, "cos"}, {AnnealStrategy::linear, "linear"}};

template <typename E, std::size_t N>
const char* text_of(const Name<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.text;
  }
  return "?";
}

template <typename E, std::size_t N>
bool parse(const Name<E> (&names)[N], const std::string& text, E& out) {
  for (const auto& n : names) {
    if (text == n.text) {
      out = n.value;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* to_string(PlateauMode mode) { return text_of(kPlateauModes, mode); }
const char* to_string(ThresholdMode mode) { return text_of(kThresholdModes, mode); }
const char* to_string(CyclicMode mode) { return text_of(kCyclicModes, mode); }
const char* to_string(ScaleMode mode) { return text_of(kScaleModes, mode); }
const char* to_string(AnnealStrategy strategy) { return text_of(kAnnealStrategies, strategy); }

// The messages are PyTorch's, after the key.
void parse_config_enum(const std::string& where, const std::string& text, PlateauMode& out) {
  TORCH_CHECK_VALUE(parse(kPlateauModes, text, out), where, ": mode ", text, " is unknown!");
}
void parse_config_enum(const std::string& where, const std::string& text, ThresholdMode& out) {
  TORCH_CHECK_VALUE(parse(kThresholdModes, text, out), where, ": threshold mode ", text, " is unknown!");
}
void parse_config_enum(const std::string& where, const std::string& text, CyclicMode& out) {
  TORCH_CHECK_VALUE(parse(kCyclicModes, text, out), where, ": mode is invalid and scale_fn is None (mode = '", text,
                    "')");
}
void parse_config_enum(const std::string& where, const std::string& text, ScaleMode& out) {
  TORCH_CHECK_VALUE(parse(kScaleModes, text, out), where, ": scale_mode must be 'cycle' or 'iterations', but got '",
                    text, "'");
}
void parse_config_enum(const std::string& where, const std::string& text, AnnealStrategy& out) {
  TORCH_CHECK_VALUE(parse(kAnnealStrategies, text, out), where,
                    ": anneal_strategy must be one of 'cos' or 'linear', instead got ", text);
}

}  // namespace torchlr
