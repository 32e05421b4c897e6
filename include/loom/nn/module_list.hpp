// loom/nn/module_list.hpp — a numbered list of child modules, PyTorch's nn.ModuleList.
//
// The children are named "0", "1", …, so a stack of blocks inside a model gets
// PyTorch's parameter names: "blocks.0.linear1.weight", "blocks.1.…". The list
// owns its children (each on the heap, so registering them by reference stays
// valid as the list grows).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loom/nn/module.hpp"

namespace loom {

template <typename T, typename Child>
class ModuleList : public Module<T> {
public:
    // Builds a child in place from the arguments and appends it.
    template <typename... Args>
    Child& emplace_back(Args&&... args) {
        items_.push_back(std::make_unique<Child>(std::forward<Args>(args)...));
        this->register_module(std::to_string(items_.size() - 1), *items_.back());
        return *items_.back();
    }

    std::size_t size() const { return items_.size(); }
    Child& operator[](std::size_t index) { return at(index); }
    const Child& operator[](std::size_t index) const { return at(index); }

    Child& at(std::size_t index) const {
        detail::check(index < items_.size(), "loom::ModuleList: index ", index, " is out of range for ", items_.size(),
                      " modules");
        return *items_[index];
    }

private:
    std::vector<std::unique_ptr<Child>> items_;
};

}  // namespace loom
