// quiesce explore's command line: its options, and --kinds, --shard and --budget read into ExploreOptions.
#include "sim/cli/commands.h"

#include "sim/core/errors.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include <sstream>

namespace quiesce {

namespace {

// --budget: a number of variants ("500") or a wall-clock time ("90s",
// "5m", "1h", "500ms").
void parse_budget(const std::string& text, ExploreOptions& o) {
    const auto bad = [&text] {
        return InputError("--budget: expected a number of variants (500) or a wall time (90s, 5m, 1h), got '" + text +
                          "'");
    };
    size_t digits = text.find_first_not_of("0123456789.");
    if (digits == 0) throw bad();
    std::string number = text.substr(0, digits), unit = digits == std::string::npos ? "" : text.substr(digits);
    char* end = nullptr;
    double v = std::strtod(number.c_str(), &end);
    if (*end) throw bad();
    if (!(v > 0)) throw InputError("--budget: must be above 0 (no --budget: every variant), got '" + text + "'");
    // Past these it is no budget: 10^20 variants were read as none at all.
    constexpr double kMostVariants = 1e9, kMostSeconds = 1e7;  // 10^7 s: 115 days
    const auto too_much = [&text] {
        return InputError("--budget: at most 1000000000 variants or 10000000 seconds, got '" + text + "'");
    };
    if (unit.empty()) {
        if (number.find('.') != std::string::npos) throw bad();
        if (v > kMostVariants) throw too_much();
        o.budget = size_t(v);
        return;
    }
    if (unit == "ms") o.budget_s = v / 1000;
    else if (unit == "s") o.budget_s = v;
    else if (unit == "m") o.budget_s = v * 60;
    else if (unit == "h") o.budget_s = v * 3600;
    else throw bad();
    if (!(o.budget_s <= kMostSeconds)) throw too_much();
}

}  // namespace

namespace {
// Whole numbers in decimal from `lo` to 2^63-1 (the trace database keeps
// them as signed 64-bit integers), no sign, no blank: `what` ("a seed")
// names one in the reason. Leading zeros are gone by then
// (decimal_whole_numbers).
CLI::Validator decimal_validator(uint64_t lo, const std::string& what, const std::string& name) {
    return CLI::Validator(
        [lo, what](std::string& text) -> std::string {
            errno = 0;
            char* end = nullptr;
            const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
            if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || *end ||
                errno == ERANGE || value > uint64_t(INT64_MAX) || value < lo)
                return what + " is a whole number from " + std::to_string(lo) + " to 9223372036854775807, got '" +
                       text + "'";
            return "";
        },
        name, what);
}

// "010" as "10", "-007" as "-7": a whole number written in decimal with
// leading zeros, without them. Anything else as it is.
std::string without_leading_zeros(std::string text) {
    const size_t sign = text.size() > 1 && (text[0] == '-' || text[0] == '+') ? 1 : 0;
    if (text.size() < sign + 2 || text[sign] != '0' || text.find_first_not_of("0123456789", sign) != std::string::npos)
        return text;
    const size_t first = std::min(text.find_first_not_of('0', sign), text.size() - 1);
    return text.substr(0, sign) + text.substr(first);
}
}  // namespace

void decimal_whole_numbers(CLI::App& app) {
    for (CLI::Option* o : app.get_options()) {
        const std::string type = o->get_type_name();
        if (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0)
            o->transform(without_leading_zeros, "", "decimal");  // runs before the option's other validators
    }
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) decimal_whole_numbers(*sub);
}

const CLI::Validator& seed_validator() {
    // --seed: what a scenario file's seed may be.
    static const CLI::Validator v = decimal_validator(0, "a seed", "SEED");
    return v;
}

const CLI::Validator& run_id_validator() {
    static const CLI::Validator v = decimal_validator(1, "a run id", "RUN");
    return v;
}

void add_explore_options(CLI::App& explore, ExploreArgs& a) {
    ExploreOptions& o = a.opts;
    explore.add_option("scenario", a.files, "Scenario file (with --mutate: files or directories)")->required();
    explore.add_option("--mutate", a.mutate,
                       "Mutate this driver's PM callbacks (a driver file's name, DRIVER:CALLBACK or "
                       "DRIVER:CALLBACK:STEP for one callback's or step's, or \"all\"): drop, swap, move a step to the neighbouring phase, shorten a timeout; each "
                       "mutant killed or survived. With --kinds, --orders, --pct, --timing or --cross: one more "
                       "axis of an exploration of one scenario");
    a.kinds_given = explore.add_option("--kinds", a.kinds, "Fault kinds to place, comma separated (default: " +
                                               fmt::format("{}", fmt::join(default_explore_kinds(), ",")) + ")");
    explore.add_option("--strategy", o.strategy,
                       "exhaustive (in order, default), random (seeded), or pct (PCT schedules: as many as --pct or "
                       "a run budget, 100 by default)");
    explore.add_option("--budget", a.budget,
                       "At most this many variants (\"500\"), or this much wall time (\"90s\", \"5m\", \"1h\"): "
                       "the runs still going then are stopped (default: all)");
    explore.add_option("--seed", o.seed, "The random strategy's and the order sample's seed (default 1)")
        ->check(seed_validator());
    explore.add_option("-j,--jobs", o.jobs, "Variants run in parallel (default 1)")->check(CLI::Range(1, 256));
    explore.add_option("--shard", a.shard, "I/N: run every Nth variant from the Ith (default 0/1)");
    explore.add_option("--db", a.db, "Trace database to write (default: a new quiesce-<time>.db here)");
    explore.add_option("--junit", a.junit,
                       "Write JUnit XML to this file: a testcase per variant, failed when it showed a violation "
                       "beyond the baseline's");
    explore.add_option("--out", a.out, "Write a reproducer scenario per distinct violation here");
    explore.add_flag("--orders", o.orders, "Also every other suspend order the device graph allows");
    explore.add_option("--orders-limit", o.orders_limit,
                       "With --orders: all of them when at most this many, else this many drawn at random with "
                       "--seed (default 1000)")
        ->check(CLI::Range(1, 1'000'000));
    explore.add_option("--persistence", o.persistence,
                       "With power-loss: also after each drive's first N persistence points of the transition "
                       "(those the baseline reached)")
        ->check(CLI::Range(0, 1'000'000));
    // Every variant's decisions are planned before the first runs: a count
    // is capped (--timing 100000 plans in about a second, 210 MB).
    explore.add_option("--pct", o.pct, "Also N PCT schedules of the simulated software (seeds 1..N; at most 100000)")
        ->check(CLI::Range(0, 100'000));
    explore.add_option("--pct-depth", o.pct_depth, "The bug depth PCT aims at (default 3)")->check(CLI::Range(1, 10));
    explore.add_option("--pct-steps", o.pct_steps, "Operations PCT spreads its change points over (default 20000)")
        ->check(CLI::Range(1, 1'000'000'000));  // as a scenario's [schedule] steps
    explore.add_option("--timing", o.timing,
                       "Also N runs with every varied latency jittered (seeds 1..N, at most 100000; docs/exploring.md)")
        ->check(CLI::Range(0, 100'000));
    explore.add_option("--jitter", o.jitter, "How much --timing varies each latency, in percent (default 20)")
        ->check(CLI::Range(1, 90));
    explore.add_option("--trace", o.trace, "What each variant records: summary (default), events or bus");
    explore.add_flag("--no-prefix", a.no_prefix, "Run every variant from the start (no fork at the shared prefix)");
    explore.add_flag("--no-rollback", a.no_rollback,
                     "Fork every variant at its branch point (no worker running a branch point's variants in turn, "
                     "its memory rolled back between them)");
    explore.add_flag("--break-order", o.break_order, "Also, per graph edge, the default order with that edge broken");
    explore.add_flag("--cross", o.cross,
                     "Also every combination of the axes asked for: faults, --mutate mutations, orders, --pct "
                     "schedules, --timing timings");
}

void settle_explore_args(ExploreArgs& a) {
    std::istringstream kinds(a.kinds);
    for (std::string k; std::getline(kinds, k, ',');)
        if (!k.empty()) a.opts.kinds.push_back(k);
    // An empty name (a stray comma, or --kinds "") is a mistake, not a wish
    // for every kind, which leaving --kinds out asks for.
    const std::string& k = a.kinds;
    if (a.kinds_given && a.kinds_given->count() > 0 &&
        (k.empty() || k.front() == ',' || k.back() == ',' || k.find(",,") != std::string::npos))
        throw InputError("--kinds: fault kinds separated by commas, without an empty one, got '" + a.kinds + "'");
    unsigned i = 0, n = 0;
    char slash = 0;
    std::istringstream shard(a.shard);
    if (!(shard >> i >> slash >> n) || slash != '/' || !shard.eof())
        throw InputError("--shard: expected I/N, got '" + a.shard + "'");
    if (!a.budget.empty()) parse_budget(a.budget, a.opts);
    a.opts.prefix = !a.no_prefix;
    a.opts.way = a.no_rollback ? Branching::Fork : Branching::Rollback;
    a.opts.mutate = a.mutate;
    a.opts.shard = i;
    a.opts.shards = n;
}

}  // namespace quiesce
