// A level-sensitive interrupt line between a device and whatever routes it.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace quiesce {

class IrqLine {
public:
    using Listener = std::function<void(bool level)>;
    explicit IrqLine(std::string name = "") : name_(std::move(name)) {}

    void set(bool level) {
        if (level == level_) return;
        level_ = level;
        for (auto& l : listeners_) l(level_);
    }
    bool level() const { return level_; }
    void listen(Listener l) { listeners_.push_back(std::move(l)); }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    bool level_ = false;
    std::vector<Listener> listeners_;
};

}  // namespace quiesce
