// quiesce explore and quiesce replay.
#include "sim/cli/commands.h"
#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/explore/explore.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"
#include "sim/trace/rows.h"
#include "sim/trace/trace_db.h"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace quiesce {

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string file_part(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    return s;
}

namespace {

struct OutOfTime {};  // thrown from a result handler when the wall-time budget is spent

struct Cell {
    size_t tried = 0, fired = 0, violating = 0;
    void add(bool f, bool v) {
        ++tried;
        fired += f;
        violating += v;
    }
    std::string text() const { return fmt::format("{}/{}{}", fired, tried, violating ? "!" : ""); }
};
// What was tried: per phase and kind; faults placed at a device, per kind,
// phase and device; power loss at persistence points, per drive; every
// order; faults under other orders.
struct Coverage {
    std::map<std::string, std::map<std::string, Cell>> cells;  // phase -> kind
    std::map<std::string, std::map<std::string, std::map<std::string, Cell>>> devices;  // kind -> phase -> device
    std::map<std::string, Cell> drives;
    std::vector<std::pair<std::string, bool>> orders;  // what the order changes, whether it broke something
    Cell cross;
    size_t cross_new = 0;  // faults under other orders with a violation neither showed alone
};

// An order finding shrinks to the order nearest the default (one device
// moved) that still shows the same violation - one the graph allows when
// the finding came from one. Sets what its run showed.
// Whether a run shows the finding: its invariant fired at its component.
bool shows_finding(const RunResult& r, const Finding& f) {
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == f.sig.invariant && ev.track == f.sig.component) return true;
    return false;
}

// Runs `trial`: whether it still shows the finding, and every id it showed.
bool still_shows(const Scenario& trial, const Finding& f, unsigned jobs, std::set<std::string>& ids) {
    bool shows = false;
    execute_all({trial}, jobs, [&](size_t, RunResult r) {
        ids = r.violations;
        shows = shows_finding(r, f);
    });
    return shows;
}

// Runs every candidate (-j at a time): the first that still shows the
// finding, with what its run showed (what its reproducer expects).
std::optional<size_t> first_showing(const Scenario& s, const std::vector<FaultPoint>& cands, Finding& f,
                                    unsigned jobs) {
    std::vector<Scenario> cv;
    for (const auto& c : cands) cv.push_back(variant_of(s, c));
    std::vector<bool> shows(cands.size(), false);
    std::vector<std::set<std::string>> ids(cands.size());
    execute_all(cv, jobs, [&](size_t k, RunResult r) {
        ids[k] = r.violations;
        shows[k] = shows_finding(r, f);
    });
    for (size_t k = 0; k < cands.size(); ++k)
        if (shows[k]) {
            f.violations = ids[k];
            return k;
        }
    return std::nullopt;
}

std::optional<FaultPoint> shrink_order(const Scenario& s, const DeviceGraph& graph, const FaultPoint& found,
                                       Finding& f, unsigned jobs) {
    std::vector<FaultPoint> cands;
    for (auto& c : one_move_orders(graph))
        if (c.graph_allows || !found.graph_allows) cands.push_back(std::move(c));
    std::optional<size_t> k = first_showing(s, cands, f, jobs);
    if (!k) return std::nullopt;
    f.shrunk = cands[*k].rule;
    return cands[*k];
}

// Delta debugging over the scenario file's own fault rules (the first
// `file_faults` of the variant's plan; the variant's rule comes after):
// each is left out in turn, from the last, and stays out when the finding
// still shows without it (same invariant at the same component).
Scenario shrink_faults(Scenario current, size_t file_faults, Finding& f, unsigned jobs) {
    for (size_t i = file_faults; i-- > 0;) {
        Scenario trial = current;
        trial.faults.faults.erase(trial.faults.faults.begin() + long(i));
        std::set<std::string> ids;
        if (!still_shows(trial, f, jobs, ids)) continue;
        current = std::move(trial);
        f.faults_removed.insert(f.faults_removed.begin(), i);
        f.violations = ids;  // what the smaller run showed is what its reproducer expects
    }
    return current;
}

// Then over the workload: each task the scenario runs is left out in turn,
// and stays out when the finding still shows without it. What is left is
// what it needs: the variant without the rest, returned.
Scenario shrink_workload(Scenario current, Finding& f, unsigned jobs) {
    for (const WorkloadTask& t : workload_tasks()) {
        if (!t.present(current)) continue;
        Scenario trial = current;
        t.remove(trial);
        std::set<std::string> ids;
        if (!still_shows(trial, f, jobs, ids)) continue;
        current = std::move(trial);
        f.workload_removed.push_back({t.task, t.key, t.value});
        f.violations = ids;  // what the smaller run showed is what its reproducer expects
    }
    return current;
}

// Then over the platform's devices: a leaf device the finding does not name
// (nor the scenario file, nor the fault) is left out in turn, and stays out
// when the finding still shows without it. `current` is the variant as the
// workload shrinking left it.
void shrink_devices(const std::string& original, Scenario current, const FaultPoint& found, Finding& f,
                    unsigned jobs) {
    auto mentioned = [&](const std::string& name) {
        return original.find(name) != std::string::npos || found.rule.find(name) != std::string::npos ||
               f.sig.component == name || f.sig.component.rfind(name + ".", 0) == 0;
    };
    for (size_t guard = 0, n = current.platform.devices.size(); guard < n; ++guard) {
        bool removed = false;
        auto& devs = current.platform.devices;
        for (auto it = devs.rbegin(); it != devs.rend(); ++it) {
            const DeviceSpec& d = *it;
            bool leaf = std::none_of(devs.begin(), devs.end(), [&](const DeviceSpec& o) { return o.parent == d.name; });
            bool linked = std::any_of(current.platform.links.begin(), current.platform.links.end(),
                                      [&](const LinkSpec& l) { return l.supplier == d.name || l.consumer == d.name; });
            if (d.type == "pci-host" || !leaf || linked || mentioned(d.name) ||
                (d.has_disk() && mentioned(d.disk)))
                continue;
            Scenario trial = current;
            trial.platform.devices.erase(trial.platform.devices.begin() + (devs.rend() - it - 1));
            std::set<std::string> ids;
            if (!still_shows(trial, f, jobs, ids)) continue;
            f.devices_removed.push_back(d.name);
            f.violations = ids;
            current = std::move(trial);
            removed = true;  // the list changed (`it` with it): look again from its end
            break;
        }
        if (!removed) break;
    }
}

// What a variant decided: its fault rule or order, or a fault under an order.
std::string decision_text(const FaultPoint& p) { return p.order.empty() ? p.rule : p.rule + " under " + p.order; }

// A fault under another order shrinks to the fault alone or the order
// alone when either still shows the finding (then it did not need the
// pair), else to the order nearest the default (one device moved) that
// still shows it with the fault. Sets what the shrunk run showed.
std::optional<FaultPoint> shrink_cross(const Scenario& s, const DeviceGraph& graph, const FaultPoint& found,
                                       Finding& f, unsigned jobs) {
    FaultPoint fault = found;
    fault.order.clear();
    fault.order_change.clear();
    fault.graph_allows = true;
    std::vector<FaultPoint> cands{fault, FaultPoint{found.order, "order", "", found.order_change, found.graph_allows}};
    for (const auto& c : one_move_orders(graph))
        if ((c.graph_allows || !found.graph_allows) && c.rule != found.order) {
            FaultPoint moved = found;
            moved.order = c.rule;
            moved.order_change = c.device;
            moved.graph_allows = c.graph_allows;
            cands.push_back(std::move(moved));
        }
    std::optional<size_t> k = first_showing(s, cands, f, jobs);
    if (!k) return std::nullopt;
    if (*k >= 2) f.shrunk = cands[*k].order;
    return cands[*k];
}

// One scenario file per distinct violation.
void write_reproducers(const std::string& out_dir, const std::string& file, uint64_t seed,
                       const std::vector<FaultPoint>& points, size_t explored, std::map<Signature, Finding>& findings) {
    if (findings.empty()) return;
    fs::create_directories(out_dir);
    std::string original = read_file(file);
    size_t n = 0;
    for (auto& [sig, f] : findings) {
        const FaultPoint& p = points[f.first_variant];
        std::string name = fmt::format("{:02}-{}-{}{}-{}{}.toml", ++n, file_part(sig.invariant), file_part(p.kind),
                                       p.order.empty() ? "" : "-under-order",
                                       file_part(p.phase), p.device.empty() ? "" : "-" + file_part(p.device));
        f.reproducer = (fs::path(out_dir) / name).string();
        write_file_atomically(f.reproducer, reproducer_text(original, file, p, f, f.found_variant, explored, seed));
    }
}

void print_report(const ExploreOptions& o, const std::vector<FaultPoint>& points, size_t fault_count,
                  const std::map<Signature, Finding>& findings, Coverage& coverage,
                  const std::vector<std::string>& phase_order, size_t done, size_t crashed, double secs) {
    std::printf("\n%zu variants in %.2fs (%.1f runs/s)%s\n", done, secs, secs > 0 ? double(done) / secs : 0.0,
                crashed ? fmt::format(", {} crashed or timed out", crashed).c_str() : "");
    if (findings.empty()) {
        std::printf("no violation beyond the baseline's\n");
    } else {
        std::printf("%zu distinct violation(s) beyond the baseline's:\n", findings.size());
        for (const auto& [sig, f] : findings) {
            const FaultPoint& p = points[f.first_variant];
            std::printf("  %-24s %-22s %-14s fault %-18s %3zu run(s), first run %lld (%s)\n", sig.invariant.c_str(),
                        sig.phase.empty() ? "-" : sig.phase.c_str(), sig.component.c_str(), sig.kind.c_str(), f.count,
                        static_cast<long long>(f.first_run), decision_text(p).c_str());
            if (sig.kind.size() > 6 && sig.kind.compare(sig.kind.size() - 6, 6, "+order") == 0 && p.order.empty())
                std::printf("      not a pair: the %s alone shows it (its own run was not among these)\n",
                            p.kind == "order" ? "order" : "fault");
            if (!f.reproducer.empty()) std::printf("      reproducer: %s\n", f.reproducer.c_str());
        }
    }
    if (points.size() > fault_count) {
        size_t tried = 0, broke = 0;
        for (const auto& [ph, kinds] : coverage.cells)
            for (const auto& [k, cell] : kinds)
                if (whole_run_kind(k)) {
                    tried += cell.tried;
                    broke += cell.violating;
                }
        std::printf("\norders, schedules and timings: %zu tried, %zu with a new violation\n", tried, broke);
    }
    const size_t shown = 20;
    for (size_t i = 0; i < coverage.orders.size() && i < shown; ++i)
        std::printf("  order: %s%s\n", coverage.orders[i].first.c_str(), coverage.orders[i].second ? "  !" : "");
    if (coverage.orders.size() > shown) std::printf("  ... and %zu more orders\n", coverage.orders.size() - shown);
    if (coverage.cross.tried)
        std::printf("faults under other orders: %zu tried, %zu fired, %zu with a violation neither showed alone\n",
                    coverage.cross.tried, coverage.cross.fired, coverage.cross_new);
    if (o.kinds.empty()) return;
    // Coverage: fired/tried per phase and kind, "!" when a new violation showed.
    std::printf("\ncoverage (fired/tried per phase and fault kind; ! = a new violation)\n");
    std::printf("  %-24s", "phase");
    for (const auto& k : o.kinds) std::printf(" %-*s", int(std::max<size_t>(k.size(), 7)), k.c_str());
    std::printf("\n");
    for (const auto& ph : phase_order) {
        if (!coverage.cells.count(ph)) continue;
        std::printf("  %-24s", ph.c_str());
        for (const auto& k : o.kinds) {
            auto it = coverage.cells[ph].find(k);
            std::string cell = it == coverage.cells[ph].end() ? "-" : it->second.text();
            std::printf(" %-*s", int(std::max<size_t>(k.size(), 7)), cell.c_str());
        }
        std::printf("\n");
    }
    // The faults placed at a device, device by device.
    for (auto& [kind, phases] : coverage.devices) {
        std::vector<std::string> devices;
        for (const auto& [ph, cells] : phases)
            for (const auto& [dev, cell] : cells)
                if (std::find(devices.begin(), devices.end(), dev) == devices.end()) devices.push_back(dev);
        std::printf("\n%s by device (fired/tried; ! = a new violation)\n  %-24s", kind.c_str(), "phase");
        for (const auto& d : devices) std::printf(" %-7s", d.c_str());
        std::printf("\n");
        for (const auto& ph : phase_order) {
            if (!phases.count(ph)) continue;
            std::printf("  %-24s", ph.c_str());
            for (const auto& d : devices) {
                auto it = phases[ph].find(d);
                std::printf(" %-7s", it == phases[ph].end() ? "-" : it->second.text().c_str());
            }
            std::printf("\n");
        }
    }
    for (const auto& [drive, cell] : coverage.drives)
        std::printf("\npower loss after each persistence point of %s: %s (fired/tried; ! = a new violation)\n",
                    drive.c_str(), cell.text().c_str());
}

}  // namespace

int cmd_explore(const std::string& file, ExploreOptions o, std::string db_path, const std::string& out_dir,
                const std::string& junit) {
    const auto began = std::chrono::steady_clock::now();  // a wall-time budget counts from here
    Scenario s = load_scenario(file);
    preflight(s);
    if (o.strategy != "exhaustive" && o.strategy != "random" && o.strategy != "pct")
        throw InputError("--strategy: must be exhaustive, random or pct, got '" + o.strategy + "'");
    // pct: PCT schedules of the simulated software are what varies - as many
    // as --pct or a run budget says (100 by default), in seed order.
    if (o.strategy == "pct" && !o.pct) o.pct = o.budget ? o.budget : 100;
    // Faults by default; with --orders / --break-order only orders unless
    // --kinds asks for faults too.
    if (o.cross && !o.orders && !o.break_order)
        throw InputError("--cross: needs --orders or --break-order (the orders to put each fault under)");
    if (o.kinds.empty() && ((!o.orders && !o.break_order && !o.pct && !o.timing) || o.cross))
        o.kinds = default_explore_kinds();
    for (const auto& k : o.kinds) {
        const FaultKindInfo* info = find_fault_kind(k);
        if (!info) throw InputError("--kinds: unknown fault kind '" + k + "'");
        if (k == "image-bit-flip" && s.protocol.target != 4)
            throw InputError("--kinds: image-bit-flip needs a hibernation protocol");
    }
    if (o.shards == 0 || o.shard >= o.shards) throw InputError("--shard: must be I/N with 0 <= I < N");
    TraceLevel variant_trace;
    if (!parse_trace_level(o.trace, variant_trace))
        throw InputError("--trace: must be summary, events or bus, got '" + o.trace + "'");
    if (db_path.empty()) db_path = "quiesce-explore.db";
    TraceDb db(db_path);
    db.begin_campaign(command_line(), {file}, -1);  // its size is known once the variants are
    std::printf("trace database: %s\n", db_path.c_str());

    // The baseline: what the scenario goes through without a new fault (and,
    // outside its trace, when the drives' persistence points come).
    Scenario noted = s;
    noted.note_persistence = o.persistence > 0;
    RunResult base = execute(noted);
    int64_t base_id = db.record(run_meta(s, base), base.stream);
    std::set<std::tuple<std::string, std::string, std::string>> known;
    for (const auto& ev : base.stream.events)
        if (ev.kind == EvKind::Violation) known.insert({ev.name, ev.phase, ev.track});
    std::string base_ids;
    for (const auto& v : base.violations) base_ids += (base_ids.empty() ? "" : ", ") + v;
    std::printf("baseline: run %lld, outcome %s, %s\n", static_cast<long long>(base_id),
                base.stream.summary.outcome.c_str(), base_ids.empty() ? "no violation" : ("violations: " + base_ids).c_str());

    std::vector<std::string> drives;
    for (const auto& d : s.platform.devices)
        if (d.has_disk()) drives.push_back(d.disk);
    std::vector<FaultPoint> points = fault_points(base.stream, o.kinds, drives, o.persistence);
    DeviceGraph graph = build_graph(s.platform);
    if (!s.order.empty()) graph.set_suspend_order(s.order);
    size_t fault_count = points.size();
    std::vector<FaultPoint> orders;
    if (o.orders || o.break_order) orders = order_points(graph, o.orders, o.break_order, o.orders_limit, o.seed);
    points.insert(points.end(), orders.begin(), orders.end());
    const size_t single_count = points.size();  // then each fault under each order (--cross)
    if (o.cross) {
        std::vector<FaultPoint> faults(points.begin(), points.begin() + long(fault_count));
        for (auto& p : cross_points(faults, orders)) points.push_back(std::move(p));
    }
    for (auto& p : pct_points(o.pct, o.pct_depth, o.pct_steps)) points.push_back(std::move(p));
    for (auto& p : timing_points(o.timing, o.jitter)) points.push_back(std::move(p));
    std::vector<size_t> picks = pick_variants(points.size(), o);
    db.set_planned(int64_t(1 + picks.size()));  // the baseline and the variants
    std::vector<Scenario> variants;
    for (size_t i : picks) {
        variants.push_back(variant_of(s, points[i]));
        variants.back().trace = variant_trace;  // replay reads it back from the run
    }
    // Prefix sharing: variants that only differ from a point on (a phase, a
    // persistence point, the first callback phase for an order) share the
    // run up to there and fork; the others run from the start.
    std::vector<FaultPoint> vpoints;
    for (size_t i : picks) vpoints.push_back(points[i]);
    std::vector<size_t> alone;
    std::vector<Branch> branches;
    if (o.prefix) branches = prefix_branches(base.stream, vpoints, alone);
    else for (size_t k = 0; k < variants.size(); ++k) alone.push_back(k);
    const size_t cross_count = points.size() - single_count - o.pct - o.timing;
    size_t stems = 0, followers = 0;
    for (const auto& b : branches)
        for (const auto& st : b.stems) {
            ++stems;
            followers += st.followers.size();
        }
    std::string budget_text = o.budget     ? fmt::format(", budget {}", o.budget)
                              : o.budget_s ? fmt::format(", budget {}s", o.budget_s)
                                           : "";
    std::string sharing;
    if (o.prefix) {
        sharing = fmt::format(", prefix sharing ({} forked at {} branch point{}", variants.size() - alone.size(),
                              branches.size(), branches.size() == 1 ? "" : "s");
        if (stems)
            sharing += fmt::format(", {} of them again from {} order stem{}", followers, stems, stems == 1 ? "" : "s");
        sharing += fmt::format(", {} from the start)", alone.size());
    }
    std::printf("fault points: %zu (%zu kinds), orders, schedules and timings: %zu%s; this run: %zu variants (%s%s, shard %u/%u), %u %s%s\n",
                fault_count, o.kinds.size(), points.size() - fault_count - cross_count,
                o.cross ? fmt::format(", faults under other orders: {}", cross_count).c_str() : "", picks.size(),
                o.strategy.c_str(), budget_text.c_str(), o.shard, o.shards,
                o.jobs, o.jobs == 1 ? "job" : "jobs", sharing.c_str());
    std::fflush(stdout);

    std::map<Signature, Finding> findings;
    Coverage coverage;
    std::vector<std::string> phase_order;
    for (const auto& p : points)
        if (!p.phase.empty() && std::find(phase_order.begin(), phase_order.end(), p.phase) == phase_order.end())
            phase_order.push_back(p.phase);
    const bool tty = ::isatty(STDOUT_FILENO);
    auto start = std::chrono::steady_clock::now();
    size_t done = 0, crashed = 0;
    auto note_finding = [&](const Signature& sig, int64_t run_id, size_t variant, const std::set<std::string>& ids) {
        Finding& f = findings[sig];
        if (f.count++ == 0) {
            f.sig = sig;
            f.first_run = run_id;
            f.first_variant = f.found_variant = variant;
            f.violations = ids;
        }
    };
    // A fault under another order (--cross) is a finding where neither the
    // same fault under the default order nor the order without it showed
    // the same violation: known once every run is in.
    using Seen = std::tuple<std::string, std::string, std::string>;  // invariant, phase, component
    std::map<std::string, std::set<Seen>> shown_alone;               // fault or order rule -> what it showed alone
    struct CrossRun {
        size_t variant;
        int64_t run_id;
        std::vector<Seen> seen;
        std::set<std::string> ids;
    };
    std::vector<CrossRun> cross_runs;
    std::vector<JunitCase> cases;            // --junit: a testcase per variant, as recorded
    std::map<size_t, size_t> case_of_point;  // point -> its testcase
    auto on_result = [&](size_t k, RunResult r) {
        const Scenario& v = variants[k];
        const FaultPoint& p = points[picks[k]];
        int64_t run_id = db.record(run_meta(v, r), r.stream);
        std::string origin = "--fault " + std::to_string(v.extra_faults.size());
        bool whole_run = whole_run_kind(p.kind);
        bool fired = whole_run;
        for (const auto& ev : r.stream.events)
            fired |= ev.kind == EvKind::Fault && arg_value(ev, "rule") == origin;
        bool violating = false;
        std::string first_new;  // the first violation beyond the baseline's, in one line
        if (!p.order.empty()) cross_runs.push_back({picks[k], run_id, {}, r.violations});
        for (const auto& ev : r.stream.events) {
            if (ev.kind != EvKind::Violation || known.count({ev.name, ev.phase, ev.track})) continue;
            if (!violating)
                first_new = fmt::format("{}{} at {}: {}", ev.name, ev.phase.empty() ? "" : " in " + ev.phase, ev.track,
                                        arg_value(ev, "message"));
            violating = true;
            if (!p.order.empty()) cross_runs.back().seen.push_back({ev.name, ev.phase, ev.track});
            else if (!whole_run || p.kind == "order") shown_alone[p.rule].insert({ev.name, ev.phase, ev.track});
            if (p.order.empty())
                note_finding({ev.name, whole_run ? "" : ev.phase, ev.track, p.kind}, run_id, picks[k], r.violations);
        }
        if (r.status == "crashed" || r.status == "timeout") ++crashed;
        if (!p.order.empty()) coverage.cross.add(fired, violating);
        else if (p.nth) coverage.drives[p.device].add(fired, violating);
        else coverage.cells[p.phase][p.kind].add(fired, violating);
        if (p.order.empty() && !p.nth && !p.device.empty() && !whole_run)
            coverage.devices[p.kind][p.phase][p.device].add(fired, violating);
        if (p.kind == "order") coverage.orders.push_back({p.device + " (" + p.rule + ")", violating});
        if (!junit.empty()) {
            JunitCase c;
            c.classname = "explore." + s.name;
            c.name = decision_text(p);
            c.file = s.file;
            c.time_s = r.wall_s;
            bool died = r.status == "crashed" || r.status == "timeout";
            c.status = died ? r.status : violating ? "failed" : "passed";
            c.message = died ? r.message : violating ? "new violation: " + first_new : "";
            c.properties = {{"random_seed", std::to_string(s.seed)}, {"trace_db", db_path},
                            {"run_id", std::to_string(run_id)},     {"digest", fmt::format("{:016x}", r.stream.digest)},
                            {"kind", p.kind},                       {"fired", fired ? "yes" : "no"}};
            if (!p.phase.empty()) c.properties.push_back({"phase", p.phase});
            if (!p.device.empty()) c.properties.push_back({"device", p.device});
            case_of_point[picks[k]] = cases.size();
            cases.push_back(std::move(c));
        }
        ++done;
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::string line = fmt::format("[{}/{}] {:.1f} runs/s, {} distinct violation(s)", done, variants.size(),
                                       secs > 0 ? double(done) / secs : 0.0, findings.size());
        if (tty) {
            std::printf("\r\033[K%s", line.c_str());
            std::fflush(stdout);
        } else if (done == variants.size() || done % std::max<size_t>(1, variants.size() / 10) == 0) {
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
        }
        // Out of wall time: the runs still going are stopped (the pool kills
        // its children, and theirs die with them), the rest never start.
        const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        if (o.budget_s > 0 && spent >= o.budget_s) throw OutOfTime{};
    };
    bool out_of_time = false;
    try {
        if (!branches.empty()) {
            Scenario prefix = s;  // records what the variants record
            prefix.trace = variant_trace;
            execute_branched(prefix, branches, variants, o.jobs, on_result);
        }
        std::vector<Scenario> rest;
        for (size_t k : alone) rest.push_back(variants[k]);
        execute_all(rest, o.jobs, [&](size_t j, RunResult r) { on_result(alone[j], std::move(r)); });
    } catch (const OutOfTime&) {
        out_of_time = true;
    }
    if (tty) std::printf("\r\033[K");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    for (const CrossRun& c : cross_runs) {
        const FaultPoint& p = points[c.variant];
        bool any = false;
        for (const Seen& seen : c.seen) {
            if (shown_alone[p.rule].count(seen) || shown_alone[p.order].count(seen)) continue;
            any = true;
            note_finding({std::get<0>(seen), std::get<1>(seen), std::get<2>(seen), p.kind + "+order"}, c.run_id,
                         c.variant, c.ids);
        }
        coverage.cross_new += any;
    }

    const size_t explored_points = points.size();
    for (auto& [sig, f] : findings) {
        if (out_of_time) break;  // shrinking would run on past the budget: the reproducers are the runs found
        std::optional<FaultPoint> shrunk;
        if (sig.kind == "order") shrunk = shrink_order(s, graph, points[f.first_variant], f, o.jobs);
        else if (!points[f.first_variant].order.empty())
            shrunk = shrink_cross(s, graph, points[f.first_variant], f, o.jobs);
        if (shrunk) {
            points.push_back(*shrunk);
            f.first_variant = points.size() - 1;
        }
    }
    if (!out_dir.empty() && !out_of_time) {  // only a reproducer shows the shrunk workload and platform
        const std::string original = read_file(file);
        for (auto& [sig, f] : findings) {
            Scenario shrunk = shrink_faults(variant_of(s, points[f.first_variant]), s.faults.faults.size(), f, o.jobs);
            shrunk = shrink_workload(std::move(shrunk), f, o.jobs);
            shrink_devices(original, std::move(shrunk), points[f.first_variant], f, o.jobs);
        }
    }

    if (!out_dir.empty()) write_reproducers(out_dir, file, s.seed, points, explored_points, findings);
    if (out_of_time)
        std::printf("\nstopped at the wall-time budget of %gs: %zu of %zu variants ran (the first in their order; findings "
                    "not shrunk)\n",
                    o.budget_s, done, variants.size());
    print_report(o, points, fault_count, findings, coverage, phase_order, done, crashed, secs);
    if (!junit.empty()) {
        for (const auto& [sig, f] : findings)  // where each finding's reproducer went
            if (auto it = case_of_point.find(f.found_variant); it != case_of_point.end() && !f.reproducer.empty())
                cases[it->second].properties.push_back({"reproducer", f.reproducer});
        write_file_atomically(junit, junit_xml("quiesce explore " + s.name, cases));
    }
    db.end_campaign("finished");
    return findings.empty() ? 0 : 1;
}

int cmd_replay(const std::string& db_path, int64_t run_id) {
    std::string file, faults, digest, scenario, level;
    uint64_t seed = 0;
    bool found = false;
    {
        TraceReader db(db_path);
        each_row(db, "SELECT file, seed, faults, digest, scenario, trace_level, id FROM run WHERE id = ?", {run_id},
                 {"run.file", "run.seed", "run.faults", "run.digest", "run.scenario", "run.trace_level", "run.id"},
                 [&](const Row& row) {
                     file = row[0];
                     seed = row.natural(1);
                     faults = row[2];
                     digest = row[3];
                     scenario = row[4];
                     level = row[5];
                     found = true;
                 });
    }
    if (!found) throw InputError(db_path, 0, 0, "", fmt::format("no run {}", run_id));
    if (!fs::exists(file)) throw InputError(file, 0, 0, "", fmt::format("run {} came from this file, which is gone", run_id));
    Scenario s = load_scenario(file);
    s.seed = seed;
    parse_trace_level(level, s.trace);  // the digest covers what the run recorded
    std::vector<std::string> rules;
    std::istringstream in(faults);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rules.push_back(line);
    add_cli_faults(s, rules);
    RunResult r = execute(s);
    std::string now = fmt::format("{:016x}", r.stream.digest);
    std::printf("replay of run %lld (%s, seed %llu%s): ", static_cast<long long>(run_id), scenario.c_str(),
                static_cast<unsigned long long>(seed), rules.empty() ? "" : fmt::format(", {} recorded decision(s)", rules.size()).c_str());
    if (now == digest) {
        std::printf("digest %s identical\n", now.c_str());
        return 0;
    }
    std::printf("digest differs: recorded %s, replayed %s\n", digest.c_str(), now.c_str());
    return 1;
}

}  // namespace quiesce
