#pragma once
// Reading the files users hand to ghnas, with errors that name the file and the problem.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ghnas {

/// Parses a whole JSON file. Throws FileError naming `path` when it is missing or malformed.
nlohmann::json read_json_file(const std::string& path);

/// Reads a text file as lines, without trailing '\r'; blank lines and lines starting
/// with '#' are dropped. Throws FileError when the file cannot be opened.
std::vector<std::string> read_text_lines(const std::string& path);

/// The whole content of a file. Throws FileError when it cannot be opened.
std::string read_file(const std::string& path);

}  // namespace ghnas
