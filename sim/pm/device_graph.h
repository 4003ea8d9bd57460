// The device graph (DESIGN.md §5): devices in registration (dpm_list) order,
// typed edges parent->child and supplier->consumer (device links). It yields
// the suspend and resume orders, rejects cycles with a message naming the
// cycle, and prints DOT.
#pragma once

#include <boost/graph/adjacency_list.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace quiesce {

enum class EdgeKind { Parent, Link };
const char* to_string(EdgeKind k);

// A name the graph does not hold, given to add_edge, superiors or
// subordinates. The loader turns it into an input error naming the key.
class UnknownDevice : public std::invalid_argument {
public:
    explicit UnknownDevice(const std::string& name)
        : std::invalid_argument("no device '" + name + "' in the graph"), name_(name) {}
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

class DeviceGraph {
public:
    struct Edge {
        std::string from;  // parent or supplier
        std::string to;    // child or consumer
        EdgeKind kind;
    };

    void add_device(const std::string& name);
    // Throws UnknownDevice (and adds nothing) when either end is not a device.
    void add_edge(const std::string& from, const std::string& to, EdgeKind kind);
    bool has(const std::string& name) const;
    const std::vector<std::string>& devices() const { return names_; }
    std::vector<Edge> edges() const;

    // Parents/suppliers first, ties broken by registration order. Throws
    // std::runtime_error naming a cycle if there is one.
    std::vector<std::string> resume_order() const;
    std::vector<std::string> suspend_order() const;
    // An explicit suspend order (a scenario's [order], an explored variant):
    // every device once, in any order - edges it violates are for the
    // checker's order.dependency to find. Resume runs its reverse.
    void set_suspend_order(std::vector<std::string> order) { explicit_ = std::move(order); }
    // What the order would be without an explicit one.
    std::vector<std::string> default_suspend_order() const;
    // Suspend orders that keep every edge (subordinates before superiors):
    // the linear extensions, registration order first, at most `limit`.
    std::vector<std::vector<std::string>> suspend_orders(size_t limit) const;
    // `count` distinct linear extensions drawn at random (seeded), for a
    // graph with too many to try them all: each step picks uniformly among
    // the devices free to suspend next - every extension can come, not all
    // equally likely. Fewer when `count` distinct ones do not turn up in
    // 20 draws each.
    std::vector<std::vector<std::string>> sample_suspend_orders(size_t count, uint64_t seed) const;
    // "a -> b -> a" when the graph has a cycle.
    std::optional<std::string> find_cycle() const;

    std::vector<std::string> superiors(const std::string& name) const;    // parents and suppliers
    std::vector<std::string> subordinates(const std::string& name) const; // children and consumers

    std::string dot(const std::string& title) const;

private:
    struct VertexProps { std::string name; };
    struct EdgeProps { EdgeKind kind = EdgeKind::Parent; };  // boost::add_edge(u, v, g) default-constructs one
    using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, VertexProps, EdgeProps>;
    size_t index(const std::string& name) const;

    std::vector<std::string> topo_resume_order() const;

    Graph g_;
    std::vector<std::string> names_;
    std::vector<std::string> explicit_;
};

}  // namespace quiesce
