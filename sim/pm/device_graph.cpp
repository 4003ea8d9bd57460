// The device graph: devices in dpm_list order, parent and link edges, and the suspend/resume orders.
#include "sim/pm/device_graph.h"

#include "sim/core/errors.h"
#include "sim/core/rng.h"

#include <boost/graph/graphviz.hpp>

#include <functional>
#include <queue>
#include <set>
#include <sstream>
#include <stdexcept>

namespace quiesce {

const char* to_string(EdgeKind k) { return k == EdgeKind::Parent ? "parent" : "link"; }

void DeviceGraph::add_device(const std::string& name) {
    SIM_ASSERT(!has(name), "device {} added twice", name);
    names_.push_back(name);
    boost::add_vertex(VertexProps{name}, g_);
}

bool DeviceGraph::has(const std::string& name) const {
    for (const auto& n : names_)
        if (n == name) return true;
    return false;
}

size_t DeviceGraph::index(const std::string& name) const {
    for (size_t i = 0; i < names_.size(); ++i)
        if (names_[i] == name) return i;
    throw UnknownDevice(name);
}

void DeviceGraph::add_edge(const std::string& from, const std::string& to, EdgeKind kind) {
    boost::add_edge(index(from), index(to), EdgeProps{kind}, g_);
}

std::vector<DeviceGraph::Edge> DeviceGraph::edges() const {
    std::vector<Edge> out;
    for (auto [it, end] = boost::edges(g_); it != end; ++it)
        out.push_back({names_[boost::source(*it, g_)], names_[boost::target(*it, g_)], g_[*it].kind});
    return out;
}

std::optional<std::string> DeviceGraph::find_cycle() const {
    const size_t n = names_.size();
    std::vector<int> color(n, 0);  // 0 white, 1 on stack, 2 done
    std::vector<size_t> stack;
    std::optional<std::string> found;
    std::function<void(size_t)> dfs = [&](size_t v) {
        color[v] = 1;
        stack.push_back(v);
        for (auto [it, end] = boost::out_edges(v, g_); it != end && !found; ++it) {
            size_t w = boost::target(*it, g_);
            if (color[w] == 1) {
                std::string text;
                size_t k = stack.size();
                while (stack[k - 1] != w) --k;
                for (size_t i = k - 1; i < stack.size(); ++i) text += names_[stack[i]] + " -> ";
                found = text + names_[w];
            } else if (color[w] == 0) {
                dfs(w);
            }
        }
        stack.pop_back();
        color[v] = 2;
    };
    for (size_t v = 0; v < n && !found; ++v)
        if (color[v] == 0) dfs(v);
    return found;
}

std::vector<std::string> DeviceGraph::resume_order() const {
    if (!explicit_.empty()) return {explicit_.rbegin(), explicit_.rend()};
    return topo_resume_order();
}

std::vector<std::string> DeviceGraph::default_suspend_order() const {
    auto order = topo_resume_order();
    return {order.rbegin(), order.rend()};
}

std::vector<std::vector<std::string>> DeviceGraph::suspend_orders(size_t limit) const {
    // Backtracking: a device may suspend once every subordinate has.
    const size_t n = names_.size();
    std::vector<size_t> pending(n, 0);  // subordinates not yet placed
    for (auto [it, end] = boost::edges(g_); it != end; ++it) pending[boost::source(*it, g_)]++;
    std::vector<std::vector<std::string>> out;
    std::vector<std::string> current;
    std::vector<bool> placed(n, false);
    std::function<void()> extend = [&] {
        if (out.size() >= limit) return;
        if (current.size() == n) {
            out.push_back(current);
            return;
        }
        // Latest-registered first: the first extension is the default order.
        for (size_t k = n; k-- > 0;) {
            if (placed[k] || pending[k]) continue;
            placed[k] = true;
            current.push_back(names_[k]);
            for (auto [it, end] = boost::in_edges(k, g_); it != end; ++it) pending[boost::source(*it, g_)]--;
            extend();
            for (auto [it, end] = boost::in_edges(k, g_); it != end; ++it) pending[boost::source(*it, g_)]++;
            current.pop_back();
            placed[k] = false;
        }
    };
    extend();
    return out;
}

std::vector<std::vector<std::string>> DeviceGraph::sample_suspend_orders(size_t count, uint64_t seed) const {
    const size_t n = names_.size();
    std::vector<size_t> subordinates(n, 0);
    for (auto [it, end] = boost::edges(g_); it != end; ++it) subordinates[boost::source(*it, g_)]++;
    Rng rng(seed);
    std::set<std::vector<std::string>> seen;
    std::vector<std::vector<std::string>> out;
    for (size_t draw = 0; out.size() < count && draw < 20 * count; ++draw) {
        std::vector<size_t> pending = subordinates, ready;
        for (size_t v = 0; v < n; ++v)
            if (!pending[v]) ready.push_back(v);
        std::vector<std::string> order;
        while (!ready.empty()) {
            size_t pick = size_t(rng.uniform(0, ready.size() - 1));
            size_t v = ready[pick];
            ready.erase(ready.begin() + long(pick));
            order.push_back(names_[v]);
            for (auto [it, end] = boost::in_edges(v, g_); it != end; ++it)
                if (--pending[boost::source(*it, g_)] == 0) ready.push_back(boost::source(*it, g_));
        }
        if (order.size() == n && seen.insert(order).second) out.push_back(std::move(order));
    }
    return out;
}

std::vector<std::string> DeviceGraph::topo_resume_order() const {
    if (auto cycle = find_cycle()) throw std::runtime_error("device graph has a cycle: " + *cycle);
    const size_t n = names_.size();
    std::vector<size_t> indeg(n, 0);
    for (auto [it, end] = boost::edges(g_); it != end; ++it) indeg[boost::target(*it, g_)]++;
    std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
    for (size_t v = 0; v < n; ++v)
        if (indeg[v] == 0) ready.push(v);
    std::vector<std::string> order;
    while (!ready.empty()) {
        size_t v = ready.top();
        ready.pop();
        order.push_back(names_[v]);
        for (auto [it, end] = boost::out_edges(v, g_); it != end; ++it)
            if (--indeg[boost::target(*it, g_)] == 0) ready.push(boost::target(*it, g_));
    }
    return order;
}

std::vector<std::string> DeviceGraph::suspend_order() const {
    if (!explicit_.empty()) return explicit_;
    return default_suspend_order();
}

std::vector<std::string> DeviceGraph::superiors(const std::string& name) const {
    std::vector<std::string> out;
    for (auto [it, end] = boost::in_edges(index(name), g_); it != end; ++it)
        out.push_back(names_[boost::source(*it, g_)]);
    return out;
}

std::vector<std::string> DeviceGraph::subordinates(const std::string& name) const {
    std::vector<std::string> out;
    for (auto [it, end] = boost::out_edges(index(name), g_); it != end; ++it)
        out.push_back(names_[boost::target(*it, g_)]);
    return out;
}

std::string DeviceGraph::dot(const std::string& title) const {
    std::ostringstream os;
    boost::write_graphviz(
        os, g_, [this](std::ostream& o, size_t v) { o << "[label=\"" << names_[v] << "\"]"; },
        [this](std::ostream& o, Graph::edge_descriptor e) {
            if (g_[e].kind == EdgeKind::Link) o << "[style=dashed,label=\"link\"]";
        },
        [&title](std::ostream& o) { o << "label=\"" << title << "\";\nrankdir=TB;\n"; });
    return os.str();
}

}  // namespace quiesce
