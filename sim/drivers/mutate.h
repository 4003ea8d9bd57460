// Mutations of a driver program (explore --mutate, docs/drivers.md): the
// mistakes driver authors make, each a small patch - drop a step, swap it
// with the next, move it to the neighbouring phase, shorten its timeout.
// A mutation is named by a spec, "drop:suspend:stop-engine", that replay
// reads back; its patch is the [[patch]] a reproducer carries.
#pragma once

#include "sim/drivers/program.h"

#include <map>
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
// Gives each of `devices` (keys of `drivers`) its program with the mutation
// applied, made once per program: devices that shared a program share its
// mutant, as they shared the program. Throws InputError if it does not apply.
void mutate_devices(std::map<std::string, SharedProgram>& drivers, const std::vector<std::string>& devices,
                    const Mutation& m);
// `--mutate DRIVER[:CALLBACK[:STEP]]`: the drivers it names ("all": every
// one) and which of their mutations it keeps (one callback's, one step's).
struct MutationTarget {
    std::string driver, callback, step;
    bool keeps(const Mutation& m) const {
        return (callback.empty() || m.callback == callback) && (step.empty() || m.step == step);
    }
};
MutationTarget parse_mutation_target(const std::string& which);
// The names of the unpatched drivers among `programs` (a run's driver
// programs, one per device; null ones skipped) that `t` names. Input
// errors: none of them ("--mutate: " + `none` + " unpatched driver named
// ..."), a callback that a named driver lacks, a step its callback does not
// label.
std::set<std::string> target_drivers(const MutationTarget& t, const std::vector<const DriverProgram*>& programs,
                                     const std::string& none);
// "drop:suspend:stop-engine" -> the mutation; false if malformed.
bool parse_mutation(const std::string& spec, Mutation& out);

}  // namespace quiesce
