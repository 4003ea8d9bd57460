// How the trace database stores event arguments (docs/trace-schema.md):
// JSON whose numbers are JSON numbers. An event carries every argument as
// text (sim/core/events.h); an argument whose text is a decimal number is
// written as a number, so that SQL reads it as one (json_extract gives an
// INTEGER or REAL: `rc < 0` compares numbers), and every other one as a
// string. Schema versions 2 and 3 wrote every value as a string; readers
// see those through typed_json too (trace_reader.cpp, merge_from).
#pragma once

#include "sim/core/events.h"

#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace quiesce {

// Whether the argument `key` = `text` is stored as a JSON number: `text` is
// a decimal integer that fits in 64 bits (an optional '-', no leading
// zeros, no "-0") or such an integer, '.', and digits ("1.25"). Hex
// ("0x1f"), a sign '+', exponents and padding stay text, as does `digest`,
// a hex hash whose 16 digits may all be decimal.
bool stored_as_number(std::string_view key, std::string_view text);

// The args column of an event: a JSON object, keys in order, each value a
// number or a string by stored_as_number (`evidence`, already JSON, as
// typed_json makes it). Empty for no arguments: the column is NULL then.
void args_json(std::string& out, const std::vector<Arg>& args);

// JSON text with each string value that stored_as_number takes (under its
// key, at any depth) written as a number; everything else as it is, byte
// for byte. Text that is not JSON comes back unchanged.
std::string typed_json(std::string_view json);

// Adds the SQL function quiesce_args(x) to a connection: NULL for NULL,
// '' and '{}' (no arguments), else typed_json(x). What turns the args and
// evidence of a version 2 or 3 database into version 4's.
void add_typed_args_function(sqlite3* db);

}  // namespace quiesce
