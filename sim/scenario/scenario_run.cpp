// Reading what a scenario runs: [workload] (the storage workload and the other tasks), [cycles] (how many suspends,
// which protocols) and [hibernation] (the image), and the disk a hibernating protocol needs.
#include "sim/scenario/scenario_read.h"

#include "sim/pm/protocol.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace quiesce::scenario_detail {

void read_run_tables(TableReader& top, Scenario& s, const std::string& path) {
    if (const toml::table* t = top.table("workload")) {
        TableReader r(path, *t, "workload");
        if (auto n = r.integer("usb_commands", 0, 1000)) s.usb_commands = unsigned(*n);
        if (auto n = r.integer("dma_copies", 0, 64)) s.dma_copies = unsigned(*n);
        if (auto sz = r.size("copy_size")) {
            s.copy_size = uint32_t(*sz);
            if (s.copy_size == 0 || s.copy_size > (1u << 20)) r.fail("copy_size", "must be 1B to 1MiB");
        }
        StorageWorkload& w = s.storage;
        if (auto n = r.integer("writer_blocks", 0, 4096)) w.writer_blocks = unsigned(*n);
        if (auto n = r.integer("fsync_every")) {
            if (*n < 0) r.fail("fsync_every", "must not be negative");
            w.fsync_every = unsigned(*n);
        }
        if (auto v = r.str("writer_sync")) {
            if (*v != "fsync" && *v != "fdatasync") r.fail("writer_sync", "must be \"fsync\" or \"fdatasync\"");
            w.fdatasync = *v == "fdatasync";
        }
        if (auto v = r.duration("writer_period")) w.writer_period = *v;
        if (auto v = r.duration("flusher_period")) w.flusher_period = *v;
        if (auto v = r.duration("commit_period")) {
            w.commit_period = *v;
            if (w.commit_period == 0) r.fail("commit_period", "must be above 0");
        }
        if (auto v = r.duration("suspend_after")) w.suspend_after = *v;
        if (auto v = r.duration("run_after")) w.run_after = *v;
        if (auto v = r.duration("idle")) s.idle = *v;
        if (auto n = r.integer("ops", 0, 100000)) w.ops = unsigned(*n);
        if (auto b = r.boolean("control_run")) {
            w.control_run = *b;
            if (w.control_run && w.ops == 0) r.fail("control_run", "needs ops: the runs compare at equal progress");
        }
        if (auto b = r.boolean("flusher_freezable")) w.flusher_freezable = *b;
        if (auto b = r.boolean("barrier")) w.barrier = *b;
        if (auto b = r.boolean("stuck_task")) w.stuck_task = *b;
        if (auto b = r.boolean("dma_streamer")) w.dma_streamer = *b;
        if (auto n = r.integer("dma_streamer_threads", 1, 4)) {
            if (!w.dma_streamer) r.fail("dma_streamer_threads", "counts the streamer's threads: it needs dma_streamer = true");
            w.dma_streamer_threads = unsigned(*n);
        }
        if (auto u = r.str("handle_user")) {
            auto d = std::find_if(s.platform.devices.begin(), s.platform.devices.end(),
                                  [&](const DeviceSpec& x) { return x.name == *u; });
            if (d == s.platform.devices.end() || d->type != "dma-engine")
                r.fail("handle_user", "'" + *u + "' is not a dma-engine device of the platform");
            w.handle_user = *u;
        }
        if (auto b = r.boolean("file_handle")) {
            if (*b && w.writer_blocks == 0) r.fail("file_handle", "the writer's handle: it needs writer_blocks > 0");
            w.file_handle = *b;
        }
        if (auto b = r.boolean("file_revoke_drop")) w.file_revoke_drop = *b;
        if (auto n = r.integer("hdparm_burst", 0, 512)) {
            if (*n && *n != 64 && *n != 128 && *n != 256 && *n != 512)
                r.fail("hdparm_burst", "must be 64, 128, 256 or 512 (the engine's BURST sizes)");
            w.hdparm_burst = *n;
        }
        if (auto v = r.duration("hdparm_after")) w.hdparm_after = *v;
        if (auto b = r.boolean("updater")) w.updater = *b;
        if (auto n = r.integer("toucher_pages", 0, 1024)) w.toucher_pages = unsigned(*n);
        if (auto n = r.integer("toucher_resident")) {
            if (*n < 1) r.fail("toucher_resident", "must be at least 1");
            w.toucher_resident = unsigned(*n);
        }
        if (auto v = r.str("skip_sleeper")) {
            if (*v != "none" && *v != "correct" && *v != "buggy")
                r.fail("skip_sleeper", "must be \"none\", \"correct\" or \"buggy\"");
            w.skip_sleeper = *v;
        }
        if (w.writer_period == 0 || w.flusher_period == 0) r.fail("writer_period", "periods must be above 0");
        r.done();
    }
    if (const toml::table* t = top.table("cycles")) {
        TableReader r(path, *t, "cycles");
        if (auto n = r.integer("count", 1, 10000)) s.cycles.count = unsigned(*n);
        if (auto v = r.duration("between")) {
            s.cycles.between = *v;
            if (s.cycles.count < 2) r.fail("between", "separates cycles: it needs count of 2 or more");
        }
        if (r.array("protocols")) {
            for (const std::string& name : r.str_list("protocols")) {
                if (name == s.protocol.name) {  // the [protocol] table's, with its overrides
                    s.cycles.protocols.push_back(s.protocol);
                    continue;
                }
                const std::string file = resolve_data_file(s.file, "protocols", name);
                if (file.empty())
                    r.fail("protocols", "no protocol named '" + name + "' (looked in protocols/ and the built-ins)");
                s.cycles.protocols.push_back(load_protocol(file));
            }
            if (s.cycles.protocols.empty()) r.fail("protocols", "names no protocol: give one or more, or leave it out");
            if (s.cycles.count < 2) r.fail("protocols", "mixes the protocols of several cycles: it needs count of 2 or more");
        }
        if (auto v = r.str("after_fresh_boot")) {
            if (*v != "end" && *v != "continue") r.fail("after_fresh_boot", "must be \"end\" or \"continue\"");
            else if (s.cycles.count < 2 && *v == "continue")
                r.fail("after_fresh_boot", "goes on to the next cycle: it needs count of 2 or more");
            s.cycles.continue_after_boot = *v == "continue";
        }
        r.done();
    }
    if (const toml::table* t = top.table("hibernation")) {
        if (!s.hibernates())  // nothing would read it: say so rather than ignore it
            top.fail("hibernation", "is for a hibernation (S4) protocol; '" + s.protocol.name + "' suspends to RAM");
        TableReader r(path, *t, "hibernation");
        if (auto b = r.boolean("crc")) s.hibernation.crc = *b;
        if (auto b = r.boolean("hw_sig")) s.hibernation.hw_sig = *b;
        if (auto b = r.boolean("ignore_swap_map")) s.hibernation.ignore_swap_map = *b;
        if (auto b = r.boolean("restore_mounts_root")) s.hibernation.restore_mounts_root = *b;
        if (auto b = r.boolean("resume_wait")) s.hibernation.resume_wait = *b;
        if (auto v = r.str("swapon")) {
            if (*v != "util-linux" && *v != "none") r.fail("swapon", "must be \"util-linux\" or \"none\"");
            s.hibernation.swapon_rewrites = *v == "util-linux";
        }
        if (auto v = r.size("image_size")) s.hibernation.image_size = *v;
        if (auto c = r.str("compress")) {
            if (*c != "none" && *c != "lz4") r.fail("compress", "must be \"none\" or \"lz4\"");
            s.hibernation.lz4 = *c == "lz4";
        }
        r.done();
    }
    if (s.hibernates()) {
        auto disk = std::find_if(s.platform.devices.begin(), s.platform.devices.end(),
                                 [](const DeviceSpec& d) { return d.type == "ahci"; });
        if (disk == s.platform.devices.end()) {
            std::string hib = s.protocol.name;
            for (const auto& p : s.cycles.protocols)
                if (s.protocol.target != 4 && p.target == 4) hib = p.name;
            const std::string why = "'" + hib + "' hibernates: platform '" + s.platform.name +
                                    "' needs a disk with a swap partition (an ahci device)";
            const toml::table* pt = top.table("protocol");
            const toml::node* at = pt ? pt->get("name") : nullptr;
            if (at) fail_at(path, *at, "protocol.name", why);
            throw InputError(path, pt ? int(pt->source().begin.line) : 1, pt ? int(pt->source().begin.column) : 1,
                             "protocol", why);
        }
    }
}

}  // namespace quiesce::scenario_detail
