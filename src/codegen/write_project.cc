// Writing a generated project atomically: every file goes into a temporary sibling
// folder first; only a complete folder is renamed into place.
#include <filesystem>
#include <fstream>
#include <random>

#include "codegen/project.h"
#include "core/error.h"

namespace bitsmith::codegen {

namespace fs = std::filesystem;

namespace {
constexpr const char* kMarker = ".bitsmith-project";

void fail_io(const std::string& what) {
  throw Error(ErrorKind::kIo, what);
}
}  // namespace

void write_project(const Project& project, const std::string& dir) {
  fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "out/" and "."
  if (target.filename().empty() || target == target.root_path())
    fail_io(dir + ": choose a project folder, not a root or the current folder itself");
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) fail_io(dir + ": exists and is not a folder");
    if (!fs::is_empty(target, ec) && !fs::exists(target / kMarker, ec))
      fail_io(dir + ": folder is not empty and was not written by bitsmith; choose another -o");
  }
  const fs::path parent = target.parent_path();
  if (!fs::exists(parent, ec) && !fs::create_directories(parent, ec))
    fail_io(dir + ": cannot create " + parent.string() + " (" + ec.message() + ")");
  // A fresh temporary sibling: create_directory fails on an existing one.
  std::random_device rd;
  fs::path tmp;
  for (int attempt = 0;; ++attempt) {
    tmp = parent / ("." + target.filename().string() + ".tmp-" + std::to_string(rd()));
    if (fs::create_directory(tmp, ec)) break;
    if (attempt > 100) fail_io(dir + ": cannot create a temporary folder in " + parent.string());
  }
  fs::path old;
  try {
    for (const GeneratedFile& f : project) {
      const fs::path p = tmp / f.path;
      fs::create_directories(p.parent_path());
      std::ofstream out(p, std::ios::binary);
      out << f.text;
      out.close();
      if (!out) fail_io(p.string() + ": cannot write");
    }
    std::ofstream marker(tmp / kMarker);
    marker << "written by bitsmith compile\n";
    marker.close();
    if (!marker) fail_io((tmp / kMarker).string() + ": cannot write");
    // Replace the old project: move it aside, move the new one in, then delete it.
    if (fs::exists(target)) {
      old = tmp.string() + "-old";
      fs::rename(target, old);
    }
    fs::rename(tmp, target);
  } catch (...) {
    fs::remove_all(tmp, ec);
    if (!old.empty() && !fs::exists(target, ec)) fs::rename(old, target, ec);  // put it back
    try {
      throw;
    } catch (const fs::filesystem_error& e) {
      fail_io(dir + ": " + e.what());
    }
  }
  if (!old.empty()) fs::remove_all(old, ec);  // the new project is in place either way
}

}  // namespace bitsmith::codegen
