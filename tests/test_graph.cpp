#include "sim/pm/device_graph.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace quiesce;

namespace {
size_t pos(const std::vector<std::string>& v, const std::string& s) {
    return size_t(std::find(v.begin(), v.end(), s) - v.begin());
}

DeviceGraph pc() {
    DeviceGraph g;
    for (auto n : {"pci0", "rp0", "dma0", "dma1", "usb0"}) g.add_device(n);
    g.add_edge("pci0", "rp0", EdgeKind::Parent);
    g.add_edge("rp0", "dma0", EdgeKind::Parent);
    g.add_edge("pci0", "dma1", EdgeKind::Parent);
    g.add_edge("pci0", "usb0", EdgeKind::Parent);
    return g;
}
}  // namespace

TEST_CASE("graph: parents resume first and suspend last", "[graph]") {
    DeviceGraph g = pc();
    auto resume = g.resume_order();
    REQUIRE(resume == std::vector<std::string>{"pci0", "rp0", "dma0", "dma1", "usb0"});  // dpm_list order
    auto suspend = g.suspend_order();
    REQUIRE(suspend == std::vector<std::string>{"usb0", "dma1", "dma0", "rp0", "pci0"});
}

TEST_CASE("graph: a device link orders a consumer after its supplier", "[graph]") {
    DeviceGraph g = pc();
    g.add_edge("usb0", "dma1", EdgeKind::Link);  // dma1 consumes usb0, registered earlier
    auto resume = g.resume_order();
    REQUIRE(pos(resume, "usb0") < pos(resume, "dma1"));
    auto suspend = g.suspend_order();
    REQUIRE(pos(suspend, "dma1") < pos(suspend, "usb0"));
    REQUIRE(g.superiors("dma1") == std::vector<std::string>{"pci0", "usb0"});
    REQUIRE(g.subordinates("pci0").size() == 3);
}

TEST_CASE("graph: a cycle is an error that names it", "[graph]") {
    DeviceGraph g = pc();
    REQUIRE_FALSE(g.find_cycle());
    g.add_edge("dma0", "pci0", EdgeKind::Link);
    auto cycle = g.find_cycle();
    REQUIRE(cycle);
    REQUIRE(*cycle == "pci0 -> rp0 -> dma0 -> pci0");
    REQUIRE_THROWS_WITH(g.resume_order(), Catch::Contains("pci0 -> rp0 -> dma0 -> pci0"));
}

TEST_CASE("graph: DOT output shows devices and both edge kinds", "[graph]") {
    DeviceGraph g = pc();
    g.add_edge("usb0", "dma1", EdgeKind::Link);
    std::string dot = g.dot("pc");
    REQUIRE(dot.find("digraph") != std::string::npos);
    REQUIRE(dot.find("label=\"rp0\"") != std::string::npos);
    REQUIRE(dot.find("style=dashed") != std::string::npos);
    REQUIRE(dot.find("label=\"pc\"") != std::string::npos);
}

TEST_CASE("graph: an edge to a device it does not hold is a typed error, and adds nothing", "[graph]") {
    DeviceGraph g = pc();
    const size_t edges = g.edges().size();
    try {
        g.add_edge("pci0", "nvme0", EdgeKind::Link);
        FAIL("add_edge took an unknown consumer");
    } catch (const UnknownDevice& e) {
        REQUIRE(e.name() == "nvme0");
    }
    REQUIRE_THROWS_AS(g.add_edge("nvme0", "dma0", EdgeKind::Parent), UnknownDevice);
    REQUIRE(g.edges().size() == edges);
    REQUIRE_THROWS_AS(g.superiors("nvme0"), UnknownDevice);
    REQUIRE_THROWS_AS(g.subordinates("nvme0"), UnknownDevice);
}
