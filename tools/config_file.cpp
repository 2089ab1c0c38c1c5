// Applying the config file to the CLI11 app (see config_file.hpp).
#include "tools/config_file.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "tools/command.hpp"

namespace torfs::tools {
namespace {

std::string dashed(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// The option `key` names in `cmd`: a long name (with `_` read as `-`), or a one-letter short
// name. Positionals have neither, so they are never found.
CLI::Option* find_option(CLI::App* cmd, const std::string& key) {
  const std::string name = dashed(key);
  for (CLI::Option* opt : cmd->get_options()) {
    const auto& longs = opt->get_lnames();
    const auto& shorts = opt->get_snames();
    if (std::find(longs.begin(), longs.end(), name) != longs.end()) return opt;
    if (name.size() == 1 && std::find(shorts.begin(), shorts.end(), name) != shorts.end()) {
      return opt;
    }
  }
  return nullptr;
}

bool is_help(const CLI::App* cmd, const CLI::Option* opt) {
  return opt == cmd->get_help_ptr() || opt == cmd->get_help_all_ptr();
}

std::string where(const std::string& file, const ConfigEntry& e) {
  return file + ":" + std::to_string(e.line) + ": ";
}

std::string label(const ConfigEntry& e) {
  return e.section.empty() ? "'" + e.key + "'" : "'" + e.key + "' in [" + e.section + "]";
}

std::vector<CLI::App*> all_commands(CLI::App& app) {
  return app.get_subcommands([](CLI::App*) { return true; });
}

CLI::App* find_command(CLI::App& app, const std::string& name) {
  for (CLI::App* c : all_commands(app))
    if (c->get_name() == name) return c;
  return nullptr;
}

// The commands a user can name (hidden ones left out), for "did you mean" lists.
std::string command_names(CLI::App& app) {
  std::string out;
  for (const CLI::App* c : all_commands(app))
    if (!c->get_group().empty()) out += (out.empty() ? "" : ", ") + c->get_name();
  return out;
}

// Whether the entry can be applied to `opt` at all (shape, not value).
Result<void> check_shape(const CLI::App* cmd, const CLI::Option* opt, const ConfigEntry& e,
                         const std::string& file) {
  const std::string at = where(file, e) + label(e) + ": ";
  if (is_help(cmd, opt) || !opt->get_configurable()) {
    return make_error(std::errc::invalid_argument, at + "cannot be set in a config file");
  }
  if (opt->get_expected_max() == 0) {
    if (e.is_array || e.values.size() != 1 || e.values[0].kind != ConfigValue::Kind::boolean) {
      return make_error(std::errc::invalid_argument, at + "it is a flag: use true or false");
    }
  } else if (e.is_array && opt->get_items_expected_max() <= 1) {
    return make_error(std::errc::invalid_argument, at + "takes one value, not an array");
  } else if (e.values.empty()) {
    return make_error(std::errc::invalid_argument, at + "empty array");
  }
  return {};
}

// Checks one entry against every command it may apply to: the section's command, or for a
// top-level key every command (at least one must have the option).
Result<void> check_entry(CLI::App& app, const ConfigEntry& e, const std::string& file) {
  std::vector<CLI::App*> commands = all_commands(app);
  if (!e.section.empty()) {
    CLI::App* cmd = find_command(app, e.section);
    if (!cmd) {
      return make_error(std::errc::invalid_argument,
                        where(file, e) + "unknown section [" + e.section +
                            "] (commands: " + command_names(app) + ")");
    }
    commands = {cmd};
  }
  bool found = false;
  for (CLI::App* cmd : commands) {
    CLI::Option* opt = find_option(cmd, e.key);
    if (!opt) continue;
    found = true;
    if (auto r = check_shape(cmd, opt, e, file); !r) return r;
  }
  if (!found) {
    return make_error(
        std::errc::invalid_argument,
        where(file, e) + "unknown option " + label(e) +
            (e.section.empty() ? " (no command has --" + dashed(e.key) + ")"
                               : " (torfs " + e.section + " has no --" + dashed(e.key) + ")"));
  }
  return {};
}

// Sets one option from the file, unless the command line gave it.
Result<void> apply_entry(CLI::Option* opt, const ConfigEntry& e, const std::string& file) {
  if (opt->count() > 0) return {};
  try {
    if (opt->get_expected_max() == 0) {
      opt->add_result(opt->get_flag_value(dashed(e.key), e.values[0].text));
    } else {
      std::vector<std::string> values;
      for (const auto& v : e.values)
        values.push_back(v.text);
      opt->add_result(values);
    }
    opt->run_callback();
  } catch (const CLI::Error& err) {
    return make_error(std::errc::invalid_argument,
                      where(file, e) + label(e) + ": " + std::string(err.what()));
  }
  return {};
}

}  // namespace

std::filesystem::path default_config_path() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x == '/') {
    return std::filesystem::path(x) / "torfs" / "config.toml";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".config" / "torfs" / "config.toml";
  }
  return {};
}

Result<ConfigDocument> load_config_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(
        std::errc::no_such_file_or_directory,
        "config file " + path.string() +
            (std::filesystem::exists(path, ec) ? " is not a regular file" : " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return make_error(std::errc::io_error, "cannot read config file " + path.string());
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse_config_toml(text, path.string());
}

Result<void> apply_config(CLI::App& app, const ConfigDocument& doc, const std::string& file) {
  for (const auto& e : doc.entries)
    if (auto r = check_entry(app, e, file); !r) return r;
  // Sections without keys are checked too: a misspelt empty [mount] is a typo all the same.
  for (std::size_t i = 0; i < doc.sections.size(); ++i) {
    if (!find_command(app, doc.sections[i])) {
      return make_error(std::errc::invalid_argument,
                        file + ":" + std::to_string(doc.section_lines[i]) + ": unknown section [" +
                            doc.sections[i] + "] (commands: " + command_names(app) + ")");
    }
  }
  for (CLI::App* cmd : app.get_subcommands()) {
    for (const auto& e : doc.entries) {
      if (!e.section.empty() && e.section != cmd->get_name()) continue;
      CLI::Option* opt = find_option(cmd, e.key);
      if (!opt) continue;  // a top-level key for other commands
      if (auto r = apply_entry(opt, e, file); !r) return r;
    }
  }
  return {};
}

void add_config_file_support(CLI::App& app) {
  auto explicit_path = std::make_shared<std::string>();
  app.add_option("--config", *explicit_path,
                 "Config file with option defaults (default $XDG_CONFIG_HOME/torfs/config.toml)");
  app.fallthrough();
  app.parse_complete_callback([&app, explicit_path] {
    for (const CLI::App* cmd : app.get_subcommands())
      if (cmd->get_group().empty()) return;  // hidden commands ignore the config
    const bool given = !explicit_path->empty();
    const std::filesystem::path path =
        given ? std::filesystem::path(*explicit_path) : default_config_path();
    std::error_code ec;
    if (path.empty() || (!given && !std::filesystem::exists(path, ec))) return;
    auto doc = load_config_file(path);
    if (!doc) fail(doc.error().message, 2);
    if (auto r = apply_config(app, *doc, path.string()); !r) fail(r.error().message, 2);
  });
}

}  // namespace torfs::tools
