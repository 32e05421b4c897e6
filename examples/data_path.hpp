// examples/data_path.hpp — where an example finds its training text.
//
// A path that exists is used as given. Otherwise, when the build defined
// LOOM_DATA_DIR (the repository's data/ folder), a file of the same name there
// is used, so `char_rnn --data tinyshakespeare.txt` works from any directory.
#pragma once

#include <filesystem>
#include <string>

namespace examples {

inline std::string resolve_data_path(const std::string& path) {
    if (std::filesystem::exists(path)) return path;
#ifdef LOOM_DATA_DIR
    const std::string bundled = std::string(LOOM_DATA_DIR) + "/" + std::filesystem::path(path).filename().string();
    if (std::filesystem::exists(bundled)) return bundled;
#endif
    return path;  // the reader reports the missing file
}

}  // namespace examples
