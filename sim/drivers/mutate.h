// Mutations of a driver program (explore --mutate, docs/drivers.md): the
// mistakes driver authors make, each a small patch - drop a step, swap it
// with the next, move it to the neighbouring phase, shorten its timeout.
// A mutation is named by a spec, "drop:suspend:stop-engine", that replay
// reads back; its patch is the [[patch]] a reproducer carries.
#pragma once

#include "sim/drivers/program.h"

#include <set>
#include <string>
#include <vector>

namespace quiesce {

struct Mutation {
    std::string op;        // drop, swap, earlier, later, shorten
    std::string callback;  // the callback whose step it changes
    std::string step;      // the step's label
    std::string spec() const { return op + ":" + callback + ":" + step; }
    std::string text() const;  // "drop suspend/stop-engine"
};

// The mutation operators and what each does, for --help and docs.
const std::vector<std::pair<std::string, std::string>>& mutation_ops();

// Every mutation of the callbacks in `reached` (a callback whose function
// ran: the name itself or an alias of it) that yields a valid driver.
std::vector<Mutation> mutations(const DriverProgram& p, const std::set<std::string>& reached);
// The callback a step moves to (earlier/later): the neighbouring phase of
// the same transition ("" when there is none).
std::string neighbour(const std::string& callback, bool later);
// The [[patch]] table body that makes the mutation ("callback = ...\n...").
std::string mutation_patch(const DriverProgram& p, const Mutation& m);
// `p` with the mutation applied. Throws InputError if it does not apply.
DriverProgram mutate(const DriverProgram& p, const Mutation& m);
// "drop:suspend:stop-engine" -> the mutation; false if malformed.
bool parse_mutation(const std::string& spec, Mutation& out);

}  // namespace quiesce
