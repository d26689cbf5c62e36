#include "core/json_io.hpp"

#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace ghnas {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(detail::str_cat("cannot open '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

nlohmann::json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FileError(detail::str_cat("'", path, "' is not valid JSON: ", e.what()));
  }
}

std::vector<std::string> read_text_lines(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    lines.push_back(line.substr(first, line.find_last_not_of(" \t") - first + 1));
  }
  return lines;
}

}  // namespace ghnas
