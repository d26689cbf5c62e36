#pragma once
// GHN checkpoints, and the import of a reference (ppuda) GHN-2 state dict.
//
// Checkpoint file format (version 1), little-endian:
//   bytes 0-7     magic "GHNASGHN"
//   bytes 8-15    uint64 H: length of the JSON header
//   next H bytes  JSON header:
//                   {"format": "ghnas-ghn-checkpoint", "version": 1,
//                    "config": GhnConfig::to_json(),
//                    "n_weights": N, "crc32": CRC-32 (zlib) of the data bytes,
//                    "tensors": [{"name", "shape", "offset", "numel"}, ...],   // offsets in floats
//                    "info": {...}}                                             // free-form
//   next 4N bytes float32 data, the tensors back to back in header order.
// The file must be exactly 16 + H + 4N bytes. Tensor names are the reference's state-dict names
// ("gnn.gru.weight_ih", "decoder.conv.2.weight", ...), so a PyTorch user can read a checkpoint
// with a few lines of numpy: seek to 16 + H, read N float32, slice by offset/numel.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "surrogate/ghn.hpp"

namespace ghnas {

/// Writes every weight of `ghn` (taken to the CPU) and its config. `info` is stored as is (for
/// example the training epoch). Writes a temporary file and renames it, so a crash never leaves a
/// half-written checkpoint under `path`. Throws FileError when the file cannot be written.
void save_ghn(Ghn& ghn, const std::string& path, const nlohmann::json& info = nlohmann::json::object());

/// A GHN built from the checkpoint's config with its weights, on `device`. Throws FileError with
/// one line naming the file when it is not a ghnas GHN checkpoint, is truncated or corrupt, or
/// does not hold the weights its config needs.
Ghn load_ghn(const std::string& path, const torch::Device& device = torch::kCPU);

/// Loads a checkpoint's weights into `ghn`. Throws FileError when the checkpoint was saved for a
/// different config (naming both), and as load_ghn for a bad file.
void load_ghn_weights(Ghn& ghn, const std::string& path);

/// A GHN whose every weight is the mean of that weight over the checkpoints in `paths` (all of
/// one config), on the CPU: the average of the iterates of one training run (Polyak averaging).
/// It helps once the iterates circle a minimum; while the run still improves, the mean lags its
/// last iterate (measured at lr 1e-4: results/ghn2_training_in_progress.md). Throws ConfigError
/// for an empty list, FileError as load_ghn_weights does.
Ghn average_ghn_checkpoints(const std::vector<std::string>& paths);

/// The header of a checkpoint (config, tensors, info); validates the file as load_ghn does.
nlohmann::json read_ghn_checkpoint_header(const std::string& path);

/// Builds a GHN from a reference GHN-2 state dict stored as raw float32 (`weights_path`) with a
/// JSON description (`meta_path`: "config" as passed to ppuda's GHN(...), "n_params", "tensors"
/// with name/shape/offset/numel in floats), the layout of ../shared/reference/ghn2_fixture.
/// Every tensor must match a weight of the GHN by name and shape and every weight must be
/// covered; anything else throws FileError (or ConfigError for an unsupported config).
Ghn import_reference_ghn(const std::string& weights_path, const std::string& meta_path);

}  // namespace ghnas
