#pragma once

// The schedulers' modes as enums (PyTorch passes strings; LibTorch's own plateau scheduler has
// enums too). Configs still take PyTorch's strings: `parse_config_enum` reads them, with
// PyTorch's message for a string it does not know.

#include <string>

namespace torchlr {

/// ReduceLROnPlateau's `mode`: whether the metric should go down or up.
enum class PlateauMode { min, max };
/// ReduceLROnPlateau's `threshold_mode`: a relative or an absolute margin.
enum class ThresholdMode { rel, abs };
/// CyclicLR's `mode`: the amplitude rule when there is no custom `scale_fn`.
enum class CyclicMode { triangular, triangular2, exp_range };
/// CyclicLR's `scale_mode`: what a custom `scale_fn` is a function of.
enum class ScaleMode { cycle, iterations };
/// OneCycleLR's `anneal_strategy`.
enum class AnnealStrategy { cos, linear };

/// PyTorch's string for each value ("min", "rel", "triangular2", "iterations", "cos", ...).
const char* to_string(PlateauMode mode);
const char* to_string(ThresholdMode mode);
const char* to_string(CyclicMode mode);
const char* to_string(ScaleMode mode);
const char* to_string(AnnealStrategy strategy);

/// Reads PyTorch's string into the enum; anything else is a c10::ValueError with PyTorch's
/// message, naming `where` (the config key, `scheduler.mode`).
void parse_config_enum(const std::string& where, const std::string& text, PlateauMode& out);
void parse_config_enum(const std::string& where, const std::string& text, ThresholdMode& out);
void parse_config_enum(const std::string& where, const std::string& text, CyclicMode& out);
void parse_config_enum(const std::string& where, const std::string& text, ScaleMode& out);
void parse_config_enum(const std::string& where, const std::string& text, AnnealStrategy& out);

}  // namespace torchlr
