// Interned words (issue 18 item 3): the event names and categories a hot
// emitter resolves once, so that a sink tells them apart by an integer
// instead of reading their text on every event. One table per process,
// filled by its one simulation thread; a word's id is its place in the
// table, handed out in order of first use, and 0 means "not interned".
// Ids are never recorded or streamed: a run's output cannot depend on them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quiesce {

// The id of `text`, added to the table first if it is new (never 0).
uint32_t intern_word(std::string_view text);
// The text of an interned id (1 <= id < interned_words()), alive as long
// as the process.
std::string_view interned_text(uint32_t id);
// One more than the largest id handed out so far.
uint32_t interned_words();

// A word interned once, when it is constructed: what a hot emitter keeps
// (a static const) and hands the event hub instead of a literal.
class EventWord {
public:
    explicit EventWord(std::string_view text) : id_(intern_word(text)), text_(interned_text(id_)) {}
    uint32_t id() const { return id_; }
    std::string_view text() const { return text_; }

private:
    uint32_t id_;
    std::string_view text_;
};

// An event's name or category as an emitter hands it to the hub: its text,
// and its id when the emitter interned it (an EventWord), else 0.
struct EvText {
    EvText(std::string_view t) : text(t) {}
    EvText(const std::string& t) : text(t) {}
    EvText(const char* t) : text(t) {}
    EvText(const EventWord& w) : text(w.text()), id(w.id()) {}
    std::string_view text;
    uint32_t id = 0;
};

}  // namespace quiesce
