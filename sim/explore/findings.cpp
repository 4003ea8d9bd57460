// What an exploration found: the variants it makes (its plan), the findings deduplicated by signature,
// the report's lines and the mutation score. (Shrinking: shrink.cpp; a reproducer folder's files:
// reproducer_folder.cpp.)
#include "sim/explore/findings.h"

#include "sim/core/errors.h"
#include "sim/drivers/mutate.h"
#include "sim/scenario/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>

namespace quiesce {

void settle_explore_options(ExploreOptions& o, const Scenario& s) {
    if (o.strategy != "exhaustive" && o.strategy != "random" && o.strategy != "pct")
        throw InputError("--strategy: must be exhaustive, random or pct, got '" + o.strategy + "'");
    // pct: PCT schedules of the simulated software are what varies - as many
    // as --pct or a run budget says (100 by default), in seed order.
    if (o.strategy == "pct" && !o.pct) o.pct = o.budget ? o.budget : 100;
    // Faults by default; with --orders / --break-order only orders unless
    // --kinds asks for faults too.
    // --cross combines the axes asked for; with one besides faults, faults
    // are the other (the default kinds unless --kinds).
    const int whole = (o.orders || o.break_order) + (o.pct > 0) + (o.timing > 0) + !o.mutate.empty();
    if (o.cross && whole == 0)
        throw InputError("--cross: needs --orders, --break-order, --pct, --timing or --mutate (what to combine the "
                         "faults with)");
    if (o.kinds.empty() && (whole == 0 || (o.cross && whole == 1))) o.kinds = default_explore_kinds();
    for (const auto& k : o.kinds) {
        const FaultKindInfo* info = find_fault_kind(k);
        if (!info) throw InputError("--kinds: unknown fault kind '" + k + "'");
        if ((k == "image-bit-flip" || k == "offline-fs-write") && s.protocol.target != 4)
            throw InputError("--kinds: " + k + " needs a hibernation protocol");
    }
    if (o.shards == 0 || o.shard >= o.shards) throw InputError("--shard: must be I/N with 0 <= I < N");
}

ExplorePlan plan_exploration(const RunStream& baseline, const ExploreOptions& o, const Scenario& s) {
    ExplorePlan plan;
    plan.graph = build_graph(s.platform);
    if (!s.order.empty()) plan.graph.set_suspend_order(s.order);
    const DeviceGraph& graph = plan.graph;
    std::vector<std::string> drives;
    for (const auto& d : s.platform.devices)
        if (d.has_disk()) drives.push_back(d.disk);
    plan.points = fault_points(baseline, o.kinds, drives, o.persistence, s.storage.writer_blocks);
    plan.fault_count = plan.points.size();
    std::vector<FaultPoint> orders;
    if (o.orders || o.break_order) orders = order_points(graph, o.orders, o.break_order, o.orders_limit, o.seed);
    std::vector<FaultPoint> schedules = pct_points(o.pct, o.pct_depth, o.pct_steps);
    std::vector<FaultPoint> timings = timing_points(o.timing, o.jitter);
    std::vector<FaultPoint> mutants;
    if (!o.mutate.empty()) mutants = mutation_points(baseline, s, o.mutate);
    plan.order_count = orders.size();
    plan.schedule_count = schedules.size();
    plan.timing_count = timings.size();
    plan.mutation_count = mutants.size();
    for (const auto* axis : {&orders, &schedules, &timings, &mutants})
        plan.points.insert(plan.points.end(), axis->begin(), axis->end());
    plan.single_count = plan.points.size();  // then the combinations (--cross)
    if (o.cross) {
        std::vector<FaultPoint> faults(plan.points.begin(), plan.points.begin() + long(plan.fault_count));
        for (auto& p : cross_points(faults, orders, schedules, timings, &plan.products, mutants))
            plan.points.push_back(std::move(p));
    }
    return plan;
}

std::string decisions_of(const FaultPoint& p) {
    std::string out;
    for (const auto& r : decision_rules(p)) out += (out.empty() ? "" : "\n") + r;
    return out;
}

void FindingSet::note(const Signature& sig, int64_t run_id, size_t point, const std::set<std::string>& ids) {
    Finding& f = findings[sig];
    if (f.count++ == 0 || point < f.found_variant) {
        f.sig = sig;
        f.first_run = run_id;
        f.first_variant = f.found_variant = point;
        f.violations = ids;
    }
}

std::vector<Seen> violations_seen(const RunStream& run) {
    std::vector<Seen> seen;
    for (const auto& ev : run.events)
        if (ev.kind == EvKind::Violation) seen.push_back({ev.name, ev.phase, ev.track});
    return seen;
}

bool FindingSet::add(const std::vector<FaultPoint>& points, size_t point, int64_t run_id,
                     const std::vector<Seen>& violations, const std::set<std::string>& ids) {
    const FaultPoint& p = points[point];
    const bool whole_run = whole_run_kind(p.kind);
    const bool many = combined(p);
    bool violating = false;
    if (many) pairs_.push_back({point, run_id, {}, ids});
    std::set<Seen>& shown = shown_[decisions_of(p)];
    for (const Seen& v : violations) {
        if (known_.count(v)) continue;
        violating = true;
        const auto& [invariant, phase, component] = v;
        shown.insert(v);
        if (many) pairs_.back().seen.push_back(v);
        else {
            note({invariant, whole_run ? "" : phase, component, p.kind}, run_id, point, ids);
            fresh.emplace(point, v);
        }
    }
    return violating;
}

std::map<std::string, size_t> FindingSet::judge_pairs(const std::vector<FaultPoint>& points) {
    std::map<std::string, size_t> per_product;
    for (const PairRun& c : pairs_) {
        const FaultPoint& p = points[c.point];
        std::vector<std::string> parts;  // what each smaller part of it decides
        for (const FaultPoint& part : smaller_parts(p)) parts.push_back(decisions_of(part));
        bool any = false;
        for (const Seen& seen : c.seen) {
            if (std::any_of(parts.begin(), parts.end(), [&](const std::string& part) {
                    auto it = shown_.find(part);
                    return it != shown_.end() && it->second.count(seen);
                }))
                continue;
            any = true;
            fresh.emplace(c.point, seen);
            note({std::get<0>(seen), whole_run_kind(p.kind) ? "" : std::get<1>(seen), std::get<2>(seen),
                  combined_kind(p)},
                 c.run_id, c.point, c.ids);
        }
        per_product[axes_of(p)] += any;
    }
    return per_product;
}

std::string decision_text(const FaultPoint& p) {
    std::vector<std::string> under;
    for (const std::string* r : {&p.mutation, &p.order, &p.schedule, &p.timing})
        if (!r->empty()) under.push_back(*r);
    std::string out = p.rule;
    for (size_t i = 0; i < under.size(); ++i) out += (i == 0 ? " under " : " and ") + under[i];
    return out;
}

std::string findings_text(const std::vector<FaultPoint>& points, const std::map<Signature, Finding>& findings,
                          const std::function<std::string(const Finding&)>& first) {
    if (findings.empty()) return "no violation beyond the baseline's\n";
    std::string out = fmt::format("{} distinct violation(s) beyond the baseline's:\n", findings.size());
    for (const auto& [sig, f] : findings) {
        const FaultPoint& p = points[f.first_variant];
        out += fmt::format("  {:<24} {:<22} {:<14} fault {:<18} {:>3} run(s), {} ({})\n", sig.invariant,
                           sig.phase.empty() ? "-" : sig.phase, sig.component, sig.kind, f.count, first(f),
                           decision_text(p));
        if (sig.kind.find('+') != std::string::npos && !combined(p))
            out += fmt::format("      not a pair: the {} alone shows it (its own run was not among these)\n",
                               p.kind == "order"      ? "order"
                               : p.kind == "pct"      ? "schedule"
                               : p.kind == "timing"   ? "timing"
                               : p.kind == "mutation" ? "mutation"
                                                      : "fault");
        else if (sig.kind.find('+') != std::string::npos && combined_kind(p) != sig.kind)
            out += fmt::format("      fewer decisions show it: {} (their own run was not among these)\n", combined_kind(p));
        if (!f.reproducer.empty()) out += "      reproducer: " + f.reproducer + "\n";
    }
    return out;
}

std::string mutation_score_text(const std::vector<FaultPoint>& points, size_t explored,
                                const std::map<size_t, Seen>& fresh, const std::set<size_t>& ran) {
    struct Mutant {
        std::string rule, text, driver, callback;
        size_t runs = 0;                     // its variants that ran: alone and in products
        bool alone_ran = false, alone = false;
        std::optional<size_t> product;       // the first combination with it that killed it
        size_t products_killing = 0;
        Seen by;
    };
    std::vector<Mutant> mutants;
    std::map<std::string, size_t> of_rule;
    for (size_t i = 0; i < explored && i < points.size(); ++i)
        if (points[i].kind == "mutation" && !combined(points[i])) {
            const std::string& r = points[i].rule;
            Mutant m{r, mutation_text(r)};
            const size_t colon = r.find(':');
            m.driver = r.substr(7, colon - 7);
            Mutation parsed;
            if (parse_mutation(r.substr(colon + 1), parsed)) m.callback = parsed.callback;
            of_rule[r] = mutants.size();
            mutants.push_back(std::move(m));
        }
    if (mutants.empty()) return "";
    for (size_t i = 0; i < explored && i < points.size(); ++i) {
        const std::string rule = decisions(points[i]).mutation;
        auto it = of_rule.find(rule);
        if (rule.empty() || it == of_rule.end() || !ran.count(i)) continue;
        Mutant& m = mutants[it->second];
        ++m.runs;
        auto f = fresh.find(i);
        if (!combined(points[i])) {
            m.alone_ran = true;
            if (f != fresh.end()) {
                m.alone = true;
                m.by = f->second;
            }
        } else if (f != fresh.end()) {
            ++m.products_killing;
            if (!m.product) {
                m.product = i;
                if (!m.alone) m.by = f->second;
            }
        }
    }
    auto seen_text = [](const Seen& v) {
        return std::get<0>(v) + (std::get<1>(v).empty() ? "" : " in " + std::get<1>(v)) + " at " + std::get<2>(v);
    };
    std::string out = "\nmutants (killed: a run with it showed a violation none of its smaller parts showed)\n";
    for (const Mutant& m : mutants) {
        if (!m.runs) continue;
        if (m.alone)
            out += fmt::format("  KILLED    {:<44} alone, by {}\n", m.text, seen_text(m.by));
        else if (m.product) {
            const FaultPoint& p = points[*m.product];
            std::string rest;  // the product's other decisions
            for (const std::string& r : decision_rules(p))
                if (r != m.rule) rest += (rest.empty() ? "" : " and ") + r;
            out += fmt::format("  KILLED    {:<44} only in {} ({} of them), by {} under {}{}\n", m.text, axes_of(p),
                               m.products_killing, seen_text(m.by), rest, m.alone_ran ? "" : " (its own run was not among these)");
        } else
            out += fmt::format("  SURVIVED  {:<44} {} run(s){}\n", m.text, m.runs, m.alone_ran ? "" : ", not alone");
    }
    std::map<std::string, std::map<std::string, std::array<size_t, 3>>> score;  // driver -> callback -> killed, of them in products only, tried
    for (const Mutant& m : mutants) {
        if (!m.runs) continue;
        for (const std::string& cb : {std::string(), m.callback}) {
            auto& c = score[m.driver][cb];
            c[0] += m.alone || m.product;
            c[1] += !m.alone && m.product;
            c[2] += 1;
        }
    }
    for (const auto& [driver, cbs] : score) {
        const auto& all = cbs.at("");
        out += fmt::format("{}: {} of {} mutants killed ({:.0f}%), {} of them only in a product\n", driver, all[0],
                           all[2], all[2] ? 100.0 * double(all[0]) / double(all[2]) : 0.0, all[1]);
        for (const auto& [cb, c] : cbs)
            if (!cb.empty())
                out += fmt::format("  {:<18} {}/{}{}\n", cb, c[0], c[2],
                                   c[1] ? fmt::format(" ({} only in a product)", c[1]) : "");
    }
    return out;
}
}  // namespace quiesce
