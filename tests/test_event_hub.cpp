// The event hub's emitters (issue 18 item 3): arguments handed as views and
// integers reach the sinks as the text they were, an event the hub reuses
// starts fresh, a sink may emit while it handles an event, and the wire
// encoder's records survive its buffer growing and being taken; interned
// names and categories arrive with their ids.
#include "sim/core/events.h"
#include "sim/trace/wire.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

using namespace quiesce;

namespace {
EventHub recording_hub(std::vector<Event>& seen) {
    EventHub hub;
    hub.subscribe(~0u, [&seen](const Event& ev) { seen.push_back(ev); });
    return hub;
}
}  // namespace

TEST_CASE("event hub: integer arguments arrive as std::to_string writes them, text as it was", "[events]") {
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    const std::string dev = "a device name longer than fifteen bytes";
    const std::vector<Arg> built{{"k1", "v1"}, {"a key longer than fifteen", "a value longer than fifteen"}};
    hub.instant("cpu0", "numbers", "test",
                {{"int", -5}, {"unsigned", 4000000000u}, {"u64", UINT64_MAX}, {"i64", INT64_MIN},
                 {"zero", 0}, {"short", short(-12)}, {"string", dev}, {"literal", "lit"}});
    hub.slice_begin("cpu0", "built", "test", built);
    REQUIRE(seen.size() == 2);
    const std::vector<std::pair<std::string, std::string>> want{
        {"int", std::to_string(-5)},           {"unsigned", std::to_string(4000000000u)},
        {"u64", std::to_string(UINT64_MAX)},   {"i64", std::to_string(INT64_MIN)},
        {"zero", "0"},                          {"short", "-12"},
        {"string", dev},                        {"literal", "lit"}};
    REQUIRE(seen[0].args.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        CHECK(seen[0].args[i].key == want[i].first);
        CHECK(seen[0].args[i].value == want[i].second);
    }
    REQUIRE(seen[1].args.size() == 2);
    CHECK(seen[1].args[1].key == built[1].key);
    CHECK(seen[1].args[1].value == built[1].value);
    CHECK(seen[1].kind == EvKind::SliceBegin);
}

TEST_CASE("event hub: an event the hub reuses starts as a fresh one would", "[events]") {
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    hub.set_phase("suspend_noirq");
    hub.instant("a track name longer than fifteen", "first", "cat", {{"x", 1}, {"y", "two"}, {"z", 3}});
    hub.set_phase("");
    hub.counter("t", "depth", 2.5);
    hub.guest_error("t", "bad-write", "what went wrong", {{"addr", "0x10"}});
    hub.slice_end("t", "s", "c");
    REQUIRE(seen.size() == 4);
    CHECK(seen[0].phase == "suspend_noirq");
    CHECK(seen[1].kind == EvKind::Counter);
    CHECK(seen[1].track == "t");
    CHECK(seen[1].category == "counter");
    CHECK(seen[1].args.empty());
    CHECK(seen[1].value == 2.5);
    CHECK(seen[1].phase.empty());
    REQUIRE(seen[2].args.size() == 2);
    CHECK(seen[2].category == "guest_error");
    CHECK(seen[2].args[0].key == "message");
    CHECK(seen[2].args[0].value == "what went wrong");
    CHECK(seen[2].args[1].value == "0x10");
    CHECK(seen[2].value == 0);
    CHECK(seen[3].args.empty());
    CHECK(seen[3].name == "s");
    // An event emitted whole (the bus, registers, violations) keeps its own phase.
    Event ev;
    ev.kind = EvKind::Transaction;
    ev.track = "bus";
    ev.addr = 0x1000;
    ev.initiator = "cpu0";
    hub.emit(ev);
    hub.instant("t", "after", "c");
    REQUIRE(seen.size() == 6);
    CHECK(seen[4].addr == 0x1000);
    CHECK(seen[5].addr == 0);
    CHECK(seen[5].initiator.empty());
}

TEST_CASE("event hub: a sink that emits while it handles an event leaves that event whole", "[events]") {
    EventHub hub;
    std::vector<Event> seen;
    Event outer_after;  // the outer event as its sink sees it after the nested emit
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) {
        if (ev.name != "outer") return;
        hub.instant("inner track", "inner", "nested", {{"k", "inner value, long enough to need the heap"}});
        outer_after = ev;
    });
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) { seen.push_back(ev); });
    hub.instant("outer track", "outer", "top", {{"k", 7}});
    hub.instant("outer track", "outer", "top", {{"k", 8}});
    CHECK(outer_after.track == "outer track");
    CHECK(outer_after.category == "top");
    REQUIRE(outer_after.args.size() == 1);
    CHECK(outer_after.args[0].value == "8");
    // The second sink sees the inner event first (emitted from the first
    // sink), then the outer one, unchanged by the inner.
    REQUIRE(seen.size() == 4);
    CHECK(seen[0].name == "inner");
    CHECK(seen[1].name == "outer");
    CHECK(seen[1].args[0].value == "7");
    CHECK(seen[3].args[0].value == "8");
}

TEST_CASE("interned words: one id per text, never 0, its text kept as it was", "[events]") {
    const uint32_t before = interned_words();
    const EventWord a("an interned word, test only");
    const EventWord again("an interned word, test only");
    const EventWord b(std::string("an interned word, test only") + " (another)");
    CHECK(a.id() != 0);
    CHECK(again.id() == a.id());
    CHECK(b.id() != a.id());
    CHECK(a.text() == "an interned word, test only");
    CHECK(b.text() == "an interned word, test only (another)");
    CHECK(interned_text(a.id()) == a.text());
    CHECK(intern_word("an interned word, test only") == a.id());
    // Two new texts, two new ids; the table's texts stay where they were as it grows.
    CHECK(interned_words() >= before);
    CHECK(interned_words() > std::max(a.id(), b.id()));
    const char* kept = a.text().data();
    for (int i = 0; i < 1000; ++i) intern_word("filler word " + std::to_string(i));
    CHECK(a.text().data() == kept);
    CHECK(interned_text(a.id()) == "an interned word, test only");
}

TEST_CASE("event hub: an interned name or category arrives as its text with its id, a plain one with id 0",
          "[events]") {
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    const EventWord name("interned-name"), category("interned-category"), other("interned-other");
    hub.instant("t", name, category, {{"k", 1}});
    hub.instant("t", "plain-name", category);
    hub.slice_begin("t", name, "plain-category");
    hub.slice_end("t", other, category, {{"a", "x"}, {"b", "y"}});
    hub.slice_end("t", name, category);  // the pooled event held `other`: no stale text or id
    hub.guest_error("t", "interned-name", "text only");
    REQUIRE(seen.size() == 6);
    CHECK(seen[0].name == "interned-name");
    CHECK(seen[0].name_id == name.id());
    CHECK(seen[0].category == "interned-category");
    CHECK(seen[0].category_id == category.id());
    CHECK(seen[1].name == "plain-name");
    CHECK(seen[1].name_id == 0);
    CHECK(seen[1].category_id == category.id());
    CHECK(seen[2].name == "interned-name");
    CHECK(seen[2].name_id == name.id());
    CHECK(seen[2].category == "plain-category");
    CHECK(seen[2].category_id == 0);
    CHECK(seen[3].name == "interned-other");
    CHECK(seen[3].name_id == other.id());
    REQUIRE(seen[3].args.size() == 2);
    CHECK(seen[3].args[1].value == "y");
    CHECK(seen[4].name == "interned-name");
    CHECK(seen[4].name_id == name.id());
    CHECK(seen[4].category == "interned-category");
    CHECK(seen[4].args.empty());
    // An emitter that hands text gets id 0 even for a word someone interned.
    CHECK(seen[5].name == "interned-name");
    CHECK(seen[5].name_id == 0);
    CHECK(seen[5].category == "guest_error");
    CHECK(seen[5].category_id == 0);
}

TEST_CASE("event hub: a slice or instant no sink reads is not built, and one a sink reads reaches every sink of its kind",
          "[events]") {
    EventHub hub;
    std::vector<std::string> a, b;  // what each sink received: "category/name"
    std::vector<std::string> asked;  // the interest's questions
    auto text = [](const Event& ev) { return ev.category + "/" + ev.name; };
    hub.subscribe(kind_bit(EvKind::Instant) | kind_bit(EvKind::SliceBegin),
                  [&](const Event& ev) { a.push_back(text(ev)); },
                  [&](EvKind k, std::string_view category, std::string_view name) {
                      asked.push_back(std::to_string(int(k)) + ":" + std::string(category) + "/" + std::string(name));
                      return category == "read";
                  });
    const EventWord read("read"), skipped("skipped"), n1("n1"), n2("n2");
    hub.instant("t", n1, read);
    hub.instant("t", n1, skipped);
    hub.instant("t", n1, skipped);          // answered once
    hub.slice_begin("t", n1, skipped);      // another kind: asked again
    hub.slice_end("t", n1, read);           // a kind no sink takes: not asked
    hub.instant("t", n2, "skipped");        // a category not interned: built, not asked
    hub.instant("t", "plain", skipped);     // a name not interned: built, not asked
    CHECK(a == std::vector<std::string>{"read/n1", "skipped/n2", "skipped/plain"});
    CHECK(asked == std::vector<std::string>{"2:read/n1", "2:skipped/n1", "0:skipped/n1"});
    CHECK(hub.wants(EvKind::Instant, read, n1));
    CHECK_FALSE(hub.wants(EvKind::Instant, skipped, n1));
    CHECK_FALSE(hub.wants(EvKind::SliceEnd, read, n1));

    // A second sink that reads the name: the event is built again, and the
    // first sink receives it too (it must ignore what it said it does not read).
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) { b.push_back(text(ev)); },
                  [](EvKind, std::string_view, std::string_view name) { return name == "n2"; });
    a.clear();
    hub.instant("t", n1, skipped);
    hub.instant("t", n2, skipped);
    CHECK(a == std::vector<std::string>{"skipped/n2"});
    CHECK(b == std::vector<std::string>{"skipped/n2"});

    // A sink with no interest reads every event of its kinds.
    std::vector<std::string> c;
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) { c.push_back(text(ev)); });
    a.clear();
    b.clear();
    hub.instant("t", n1, skipped);
    hub.slice_begin("t", n1, skipped);
    CHECK(c == std::vector<std::string>{"skipped/n1"});
    CHECK(a == std::vector<std::string>{"skipped/n1"});
    CHECK(b == std::vector<std::string>{"skipped/n1"});
}

TEST_CASE("event hub: arguments dropped and taken back across events keep their texts apart", "[events]") {
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    const std::string long1(40, 'a'), long2(50, 'b'), long3(30, 'c');
    hub.instant("t", "three", "c", {{"k1", long1}, {"k2", long2}, {"k3", long3}});
    hub.instant("t", "one", "c", {{"only", 7}});
    hub.instant("t", "none", "c");
    hub.instant("t", "two", "c", {{"x", long3}, {"y", "short"}});
    hub.counter("t", "depth", 1);
    hub.guest_error("t", "err", "a message long enough to need the heap", {{"z", long2}});
    REQUIRE(seen.size() == 6);
    REQUIRE(seen[0].args.size() == 3);
    CHECK(seen[0].args[2].value == long3);
    REQUIRE(seen[1].args.size() == 1);
    CHECK(seen[1].args[0].key == "only");
    CHECK(seen[1].args[0].value == "7");
    CHECK(seen[2].args.empty());
    REQUIRE(seen[3].args.size() == 2);
    CHECK(seen[3].args[0].key == "x");
    CHECK(seen[3].args[0].value == long3);
    CHECK(seen[3].args[1].value == "short");
    CHECK(seen[4].args.empty());
    REQUIRE(seen[5].args.size() == 2);
    CHECK(seen[5].args[0].value == "a message long enough to need the heap");
    CHECK(seen[5].args[1].key == "z");
    CHECK(seen[5].args[1].value == long2);
}

TEST_CASE("event hub: a caller's buffer reused with new text at the same address arrives as its new text",
          "[events]") {
    // The hub copies nothing it holds already: it must tell that by the
    // text, never by where the text is.
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    std::string track = "pci0.rp0.dma0", key = "lineA", value = "v1", name = "a-name";
    const char* const at[] = {track.data(), key.data(), value.data(), name.data()};
    hub.instant(track, name, "c", {{key, value}});
    track[3] = '1';
    key[4] = 'B';
    value[1] = '2';
    name[0] = 'b';
    REQUIRE((track.data() == at[0] && key.data() == at[1] && value.data() == at[2] && name.data() == at[3]));
    hub.instant(track, name, "c", {{key, value}});
    hub.instant(track, name, "c", {{key, value}});  // now the same text again
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].track == "pci0.rp0.dma0");
    CHECK(seen[0].name == "a-name");
    CHECK(seen[0].args[0].key == "lineA");
    CHECK(seen[0].args[0].value == "v1");
    for (size_t i = 1; i < 3; ++i) {
        CHECK(seen[i].track == "pci1.rp0.dma0");
        CHECK(seen[i].name == "b-name");
        CHECK(seen[i].args[0].key == "lineB");
        CHECK(seen[i].args[0].value == "v2");
    }
}

TEST_CASE("event hub: events of every argument count, interleaved, carry their own arguments", "[events]") {
    // The hub keeps an event per argument count up to a bound and shares one
    // above it: counts on both sides of the bound, each after another.
    std::vector<Event> seen;
    EventHub hub = recording_hub(seen);
    const std::vector<size_t> counts{0, 7, 1, 9, 2, 8, 6, 7, 0, 12, 3, 1, 5, 4, 13, 2};
    std::vector<std::vector<Arg>> sent;
    for (size_t e = 0; e < counts.size(); ++e) {
        std::vector<Arg> args;
        for (size_t i = 0; i < counts[e]; ++i)
            args.push_back({"k" + std::to_string(i) + (e % 2 ? "" : "-a key longer than fifteen"),
                            std::string(e % 3 ? 3 : 30, char('a' + e)) + std::to_string(i)});
        hub.instant("track" + std::to_string(e % 4), "n" + std::to_string(e), "c", args);
        sent.push_back(args);
    }
    REQUIRE(seen.size() == counts.size());
    for (size_t e = 0; e < counts.size(); ++e) {
        CHECK(seen[e].track == "track" + std::to_string(e % 4));
        CHECK(seen[e].name == "n" + std::to_string(e));
        REQUIRE(seen[e].args.size() == counts[e]);
        for (size_t i = 0; i < counts[e]; ++i) {
            CHECK(seen[e].args[i].key == sent[e][i].key);
            CHECK(seen[e].args[i].value == sent[e][i].value);
        }
    }
}

TEST_CASE("wire: records encoded across the buffer's growth and takes decode as they were", "[trace]") {
    WireWriter w(-1);
    std::vector<Event> sent;
    std::string taken;
    for (int i = 0; i < 600; ++i) {
        Event ev;
        ev.kind = EvKind(i % 9);
        ev.ts = uint64_t(i) * 1'000'003;
        ev.track = std::string(size_t(i % 50), 't');
        ev.name = "n" + std::to_string(i);
        ev.category = i % 3 ? "phase" : "";
        ev.phase = std::string(size_t(i % 7) * 40, 'p');
        ev.value = i * 0.5;
        ev.addr = uint64_t(i) << 40;
        ev.size = unsigned(i);
        ev.write = i % 2;
        for (int a = 0; a < i % 4; ++a) ev.args.push_back({"key" + std::to_string(a), std::string(size_t(i), 'v')});
        w.event(ev);
        sent.push_back(ev);
        if (i % 170 == 0) taken += w.take();  // a branch point: the part since the last one
    }
    taken += w.take();
    RunStream back = decode_stream(taken);
    REQUIRE(back.events.size() == sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        const Event& a = sent[i];
        const Event& b = back.events[i];
        CHECK((a.kind == b.kind && a.ts == b.ts && a.track == b.track && a.name == b.name &&
               a.category == b.category && a.phase == b.phase && a.value == b.value && a.addr == b.addr &&
               a.size == b.size && a.write == b.write && a.args.size() == b.args.size()));
        for (size_t k = 0; k < a.args.size() && k < b.args.size(); ++k)
            CHECK((a.args[k].key == b.args[k].key && a.args[k].value == b.args[k].value));
    }
}

TEST_CASE("wire: a writer with a descriptor sends records bigger than its first room whole", "[trace]") {
    // The writer flushes past 64 KiB and takes its first room bigger than
    // that: a record of several times it grows the room, with what was
    // kept copied over, between records that fit.
    char path[] = "/tmp/quiesce_wire_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    unlink(path);
    std::vector<Event> sent;
    {
        WireWriter w(fd);
        for (int i = 0; i < 40; ++i) {
            Event ev;
            ev.ts = uint64_t(i);
            ev.track = "t" + std::to_string(i);
            const size_t big = i % 13 == 5 ? size_t(300'000 + i) : size_t(i * 50);
            ev.args.push_back({"blob", std::string(big, char('a' + i % 26))});
            w.event(ev);
            sent.push_back(ev);
        }
        w.summary(RunSummary{});
    }
    std::string bytes(size_t(lseek(fd, 0, SEEK_END)), '\0');
    REQUIRE(pread(fd, bytes.data(), bytes.size(), 0) == ssize_t(bytes.size()));
    close(fd);
    const RunStream back = decode_stream(bytes);
    CHECK_FALSE(back.truncated);
    REQUIRE(back.events.size() == sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        CHECK(back.events[i].track == sent[i].track);
        CHECK(back.events[i].ts == sent[i].ts);
        REQUIRE(back.events[i].args.size() == 1);
        CHECK(back.events[i].args[0].value == sent[i].args[0].value);
    }
}

TEST_CASE("event hub: every event carries the phase set before it, at every nesting level", "[events]") {
    // The hub copies the phase into an event it reuses only when the phase
    // changed since that event last carried it: each nesting level keeps its
    // own, and a sink may change the phase while it handles an event.
    EventHub hub;
    std::vector<Event> seen;
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) {
        if (ev.name == "outer") hub.instant("t", "inner", "nested");
        if (ev.name == "switch") {
            hub.set_phase("resume_noirq, a phase name longer than fifteen");
            hub.instant("t", "inner", "nested");
        }
    });
    hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& ev) { seen.push_back(ev); });
    hub.set_phase("suspend");
    hub.instant("t", "outer", "top");
    hub.set_phase("suspend_late");
    hub.instant("t", "outer", "top");
    hub.set_phase("suspend_late");
    hub.instant("t", "plain", "top");
    hub.instant("t", "switch", "top");
    hub.instant("t", "outer", "top");
    hub.set_phase("");
    hub.instant("t", "outer", "top");
    const std::vector<std::pair<std::string, std::string>> want{
        {"inner", "suspend"},
        {"outer", "suspend"},
        {"inner", "suspend_late"},
        {"outer", "suspend_late"},
        {"plain", "suspend_late"},
        {"inner", "resume_noirq, a phase name longer than fifteen"},
        {"switch", "suspend_late"},  // emitted before its sink changed the phase
        {"inner", "resume_noirq, a phase name longer than fifteen"},
        {"outer", "resume_noirq, a phase name longer than fifteen"},
        {"inner", ""},
        {"outer", ""}};
    REQUIRE(seen.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        CHECK(seen[i].name == want[i].first);
        CHECK(seen[i].phase == want[i].second);
    }
}
