#include "surrogate/ghn_config.hpp"

#include "core/error.hpp"

namespace ghnas {

void GhnConfig::validate() const {
  GHNAS_CHECK_AS(ConfigError, hid >= 4 && hid % 4 == 0,
                 "GHN hid must be a positive multiple of 4 (the shape encoder splits it in four), got ", hid);
  for (auto d : max_shape)
    GHNAS_CHECK_AS(ConfigError, d >= 1, "GHN max_shape must be positive, got a dimension of ", d);
  GHNAS_CHECK_AS(ConfigError, max_shape[2] == max_shape[3],
                 "GHN max_shape must have a square kernel (kh == kw), got ", max_shape[2], "x", max_shape[3]);
  GHNAS_CHECK_AS(ConfigError, num_classes >= 1, "GHN num_classes must be positive, got ", num_classes);
  GHNAS_CHECK_AS(ConfigError, s_max >= 1 && s_max <= 254, "GHN s_max must be in 1..254, got ", s_max);
}

nlohmann::json GhnConfig::to_json() const {
  return {{"hid", hid},         {"max_shape", max_shape},     {"num_classes", num_classes},
          {"ve", ve},           {"s_max", s_max},             {"layernorm", layernorm},
          {"weight_norm", weight_norm}};
}

namespace {

template <typename T>
T field(const nlohmann::json& j, const char* name) {
  GHNAS_CHECK_AS(ConfigError, j.is_object() && j.contains(name), "GHN config has no field '", name, "'");
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(detail::str_cat("GHN config field '", name, "' has the wrong type: ", j.at(name).dump()));
  }
}

std::array<std::int64_t, 4> shape_field(const nlohmann::json& j) {
  const auto v = field<std::vector<std::int64_t>>(j, "max_shape");
  GHNAS_CHECK_AS(ConfigError, v.size() == 4, "GHN config field 'max_shape' needs 4 numbers, got ",
                 j.at("max_shape").dump());
  return {v[0], v[1], v[2], v[3]};
}

}  // namespace

GhnConfig GhnConfig::from_json(const nlohmann::json& j) {
  GhnConfig c;
  c.hid = field<int>(j, "hid");
  c.max_shape = shape_field(j);
  c.num_classes = field<int>(j, "num_classes");
  c.ve = field<bool>(j, "ve");
  c.s_max = field<int>(j, "s_max");
  c.layernorm = field<bool>(j, "layernorm");
  c.weight_norm = field<bool>(j, "weight_norm");
  c.validate();
  return c;
}

GhnConfig GhnConfig::from_reference_json(const nlohmann::json& j) {
  const auto hypernet = field<std::string>(j, "hypernet");
  const auto decoder = field<std::string>(j, "decoder");
  GHNAS_CHECK_AS(ConfigError, hypernet == "gatedgnn", "unsupported GHN hypernet '", hypernet,
                 "' (only 'gatedgnn' is implemented)");
  GHNAS_CHECK_AS(ConfigError, decoder == "conv", "unsupported GHN decoder '", decoder,
                 "' (only 'conv' is implemented)");
  GhnConfig c;
  c.hid = field<int>(j, "hid");
  c.max_shape = shape_field(j);
  c.num_classes = field<int>(j, "num_classes");
  c.ve = field<bool>(j, "ve");
  c.layernorm = field<bool>(j, "layernorm");
  c.weight_norm = field<bool>(j, "weight_norm");
  // The reference builds graphs with a cutoff of 50 whenever virtual edges are on.
  c.s_max = 50;
  c.validate();
  return c;
}

bool GhnConfig::operator==(const GhnConfig& o) const {
  return hid == o.hid && max_shape == o.max_shape && num_classes == o.num_classes && ve == o.ve &&
         s_max == o.s_max && layernorm == o.layernorm && weight_norm == o.weight_norm;
}

}  // namespace ghnas
