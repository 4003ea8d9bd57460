// A SATA drive: media and write cache, commands and their timing, FLUSH destaging, power states, power loss.
#include "models/disk/sata_drive.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/fault/injector.h"

#include <algorithm>
#include <cstring>

namespace quiesce {

const char* SataDrive::to_string(Power p) {
    switch (p) {
        case Power::Active: return "active";
        case Power::Idle: return "idle";
        case Power::Standby: return "standby";
        case Power::Off: return "off";
    }
    return "?";
}

SataDrive::SataDrive(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                     uint64_t size_bytes, unsigned sector_size)
    : Component(name, ctx, clock), size_(size_bytes), sector_size_(sector_size),
      sectors_(size_bytes / sector_size), reset_or_power_("reset_or_power"),
      // Its own stream, from the run's seed without drawing from it: no
      // other model's numbers move.
      destage_rng_(ctx.rng.seed_state() ^ 0x5a7a0de57a6e0000ULL) {
    SIM_ASSERT(sector_size_ == 512 || sector_size_ == 4096, "sector size {}", sector_size_);
    props().declare("write_cache", true, "Volatile write cache enabled (IDENTIFY word 85 bit 5)");
    props().declare("honours_flush", true, "FLUSH CACHE really writes the cache to media (false: a lying drive)");
    props().declare("cache_sectors", int64_t(4096), "Write-cache capacity; the oldest sector is destaged when full");
    props().declare("spinup_ms", int64_t(1500), "Standby to active: spin-up time");
    props().declare("serial", "QS" + std::string(basename()), "Serial number (IDENTIFY words 10-19)");
    props().declare("model", std::string("QUIESCE SATA DISK"), "Model number (IDENTIFY words 27-46)");
    props().declare("command_us", int64_t(20), "Command overhead (seek/settle averaged)");
    props().declare("media_ns_per_sector", int64_t(4000), "Media transfer time per sector");
    props().declare("cache_ns_per_sector", int64_t(500), "Interface transfer time per sector into the cache");
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

void SataDrive::set_power(Power p) {
    if (p == power_) return;
    power_ = p;
    hub().instant(path(), std::string("drive.") + to_string(p), "power");
    hub().counter(path(), "drive_power", double(int(p)));
}

bool SataDrive::spin_up() {
    if (power_ != Power::Standby) return true;
    const uint64_t gen = power_cycles_;
    hub().slice_begin(path(), "spin-up", "power");
    wait_time(ctx().timing.vary(Picos(props().get<int64_t>("spinup_ms")) * 1'000'000'000ULL));
    if (const FaultSpec* f = fault("slow-spin-up")) wait_time(f->duration);  // a sticky spindle
    hub().slice_end(path(), "spin-up", "power");
    if (gen != power_cycles_) return false;  // the power went meanwhile: the spindle stopped with it
    set_power(Power::Active);
    return true;
}

// CrashMonkey's persistence points: after each completed write or flush a
// power-loss rule naming this drive may cut the power (asynchronously).
void SataDrive::persistence_point(const char* what, uint64_t lba, uint32_t count) {
    if (!ctx().faults.async_power()) return;
    ctx().faults.persistence_point(fault_device());
    if (!ctx().faults.armed("power-loss")) return;
    if (const FaultSpec* f = fault("power-loss", {{"point", what}, {"lba", std::to_string(lba)},
                                                  {"sectors", std::to_string(count)}}))
        ctx().faults.run_handler("power-loss", *f);
}

void SataDrive::write_media(uint64_t lba, const uint8_t* data) {
    media_[lba].assign(data, data + sector_size_);
}

std::vector<uint64_t> SataDrive::destage_order() {
    std::vector<uint64_t> lbas;
    lbas.reserve(cache_.size());
    for (const auto& [lba, data] : cache_) lbas.push_back(lba);  // ascending
    if (lbas.empty()) return lbas;
    uint64_t pick = destage_rng_.next();
    if (ctx().timing.percent) pick ^= ctx().timing.rng.next();  // explore's timing axis moves it too
    const size_t first = size_t(pick % lbas.size());
    std::rotate(lbas.begin(), lbas.begin() + long(first), lbas.end());
    return lbas;
}

bool SataDrive::flush_cache() {
    if (!props().get<bool>("honours_flush")) return true;  // acknowledges, keeps the cache
    Picos per = Picos(props().get<int64_t>("media_ns_per_sector")) * 1000;
    const uint64_t gen = power_cycles_;
    const uint64_t rgen = resets_;
    const std::vector<uint64_t> order = destage_order();
    if (!order.empty()) destage_start_ = order.front();
    for (uint64_t lba : order) {
        auto it = cache_.find(lba);
        if (it == cache_.end()) continue;
        write_media(lba, it->second.data());
        cache_.erase(it);
        wait_time(per);
        if (gen != power_cycles_) return false;  // the power went mid-flush: the rest of the cache with it
        if (reset_since(rgen)) return false;     // a COMRESET aborted it: the reset destages the rest
    }
    cache_order_.clear();
    return true;
}

bool SataDrive::execute(uint8_t command, uint64_t lba, uint32_t count, std::vector<uint8_t>& data) {
    if (power_ == Power::Off) return false;
    // A command the power cuts short is gone with it: nothing of it reaches
    // the cache or the media after the cut.
    const uint64_t gen = power_cycles_;
    const uint64_t rgen = resets_;  // a COMRESET aborts the command: nothing of it after the reset
    wait_time(ctx().timing.vary(Picos(props().get<int64_t>("command_us")) * 1'000'000ULL));
    if (gen != power_cycles_ || reset_since(rgen)) return false;
    // A drive that never answers this command (firmware stuck on it): it
    // stays busy - no status, no data - until a COMRESET or a power loss.
    if (ctx().faults.armed("disk-no-answer"))
        if (fault("disk-no-answer", {{"command", std::to_string(command)}, {"lba", std::to_string(lba)}})) {
            hub().slice_begin(path(), "no-answer", "disk", {{"command", std::to_string(command)}});
            while (gen == power_cycles_ && !reset_since(rgen)) quiesce::wait(reset_or_power_);
            hub().slice_end(path(), "no-answer", "disk", {{"ended_by", reset_since(rgen) ? "comreset" : "power-loss"}});
            return false;
        }
    const Picos media_ps = Picos(props().get<int64_t>("media_ns_per_sector")) * 1000;
    const Picos cache_ps = Picos(props().get<int64_t>("cache_ns_per_sector")) * 1000;
    switch (command) {
        case IDENTIFY: {
            data.assign(512, 0);
            uint64_t n = sectors_;
            std::memcpy(&data[200], &n, 8);                          // words 100-103: LBA48 sectors
            uint16_t w85 = props().get<bool>("write_cache") ? 0x20 : 0;  // write cache enabled
            std::memcpy(&data[170], &w85, 2);
            uint16_t w106 = sector_size_ == 4096 ? 0x6000 | 3 : 0;       // logical > 512 bytes
            std::memcpy(&data[212], &w106, 2);
            // ATA strings: space-padded, two characters a word, the first in the high byte.
            auto ata_string = [&](unsigned word, unsigned words, const std::string& text) {
                for (unsigned i = 0; i < 2 * words; ++i)
                    data[2 * word + (i ^ 1)] = uint8_t(i < text.size() ? text[i] : ' ');
            };
            ata_string(10, 10, props().get<std::string>("serial"));
            ata_string(27, 20, props().get<std::string>("model"));
            return true;
        }
        case FLUSH_CACHE_EXT:
            if (!spin_up() || reset_since(rgen)) return false;
            ++flushes_;
            hub().slice_begin(path(), "flush", "disk", {{"sectors", std::to_string(cache_.size())}});
            if (!flush_cache()) {
                hub().slice_end(path(), "flush", "disk", {{"result", reset_since(rgen) ? "reset" : "power-lost"}});
                return false;
            }
            hub().slice_end(path(), "flush", "disk", {{"from_lba", std::to_string(destage_start_)}});
            persistence_point("flush", 0, 0);
            return true;
        case STANDBY_IMMEDIATE:
            set_power(Power::Standby);
            return true;
        case IDLE_IMMEDIATE:
            if (!spin_up() || reset_since(rgen)) return false;
            set_power(Power::Idle);
            return true;
        case READ_VERIFY:
        case READ_VERIFY_EXT: {
            // ACS-3 7.34/7.35: the drive reads the sectors from the media
            // and transfers nothing; from standby it spins up first (what
            // libata's START STOP UNIT translation relies on). A sector
            // count of 0 is 256 (65536 for the EXT form); sectors past the
            // end are IDNF: an error status.
            const uint32_t n = count ? count : command == READ_VERIFY ? 256u : 65536u;
            if (lba + n > sectors_) return false;
            if (!spin_up() || reset_since(rgen)) return false;
            set_power(Power::Active);
            wait_time(media_ps * n);
            return gen == power_cycles_ && !reset_since(rgen);
        }
        case READ_DMA_EXT:
        case WRITE_DMA_EXT:
        case WRITE_DMA_FUA_EXT:
            break;
        default:
            return false;
    }
    if (count == 0 || lba + count > sectors_) return false;
    if (!spin_up() || reset_since(rgen)) return false;
    set_power(Power::Active);
    if (command == READ_DMA_EXT) {
        data.assign(size_t(count) * sector_size_, 0);
        for (uint32_t i = 0; i < count; ++i) {
            auto v = readable(lba + i);
            std::memcpy(&data[size_t(i) * sector_size_], v.data(), sector_size_);
        }
        wait_time(media_ps * count);
        return true;
    }
    if (data.size() < size_t(count) * sector_size_) return false;
    // A write the drive fails (ERR, ABRT): nothing of it is written.
    if (fault("disk-write-error", {{"lba", std::to_string(lba)}, {"sectors", std::to_string(count)}})) return false;
    // The power fails in the middle of this write: the first half of its
    // sectors reaches the platters, the rest never does (and the cache dies).
    if (ctx().faults.async_power())
        if (const FaultSpec* f = fault("torn-write", {{"lba", std::to_string(lba)}, {"sectors", std::to_string(count)}})) {
            for (uint32_t i = 0; i < count / 2; ++i) write_media(lba + i, &data[size_t(i) * sector_size_]);
            wait_time(media_ps * (count / 2));
            ctx().faults.run_handler("power-loss", *f);
            return false;
        }
    bool through = command == WRITE_DMA_FUA_EXT || !props().get<bool>("write_cache");
    for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* src = &data[size_t(i) * sector_size_];
        uint64_t s = lba + i;
        written_at_[s] = now_ps();
        if (through) {
            write_media(s, src);
            cache_.erase(s);  // the newer data is on media now
            continue;
        }
        if (!cache_.count(s)) cache_order_.push_back(s);
        cache_[s].assign(src, src + sector_size_);
        if (cache_.size() > size_t(props().get<int64_t>("cache_sectors"))) {
            uint64_t oldest = cache_order_.front();
            cache_order_.pop_front();
            auto it = cache_.find(oldest);
            if (it != cache_.end()) {
                write_media(oldest, it->second.data());
                cache_.erase(it);
            }
        }
    }
    wait_time((through ? media_ps : cache_ps) * count);
    persistence_point(through ? "durable-write" : "cached-write", lba, count);
    return true;
}

void SataDrive::power_off() {
    if (power_ == Power::Off) return;
    if (!cache_.empty())
        hub().instant(path(), "cache-lost", "power", {{"sectors", std::to_string(cache_.size())}});
    cache_.clear();
    cache_order_.clear();
    ++power_cycles_;
    quiesce::notify(reset_or_power_, sc_core::SC_ZERO_TIME);
    set_power(Power::Off);
}

void SataDrive::comreset() {
    ++resets_;
    quiesce::notify(reset_or_power_, sc_core::SC_ZERO_TIME);
    hub().instant(path(), "comreset", "link", {{"cached", std::to_string(cache_.size())}});
}

bool SataDrive::reset_ready() {
    if (power_ == Power::Off) return false;
    const uint64_t gen = power_cycles_, rgen = resets_;
    if (!cache_.empty() && props().get<bool>("honours_flush")) {
        // Hitachi 5K320 OEM spec 5.2 and IBM DBCA 10.10: a hard reset does
        // not lose the write cache; the drive writes it before it is ready.
        if (!spin_up() || gen != power_cycles_ || reset_since(rgen)) return false;
        hub().slice_begin(path(), "reset-destage", "disk", {{"sectors", std::to_string(cache_.size())}});
        const bool ok = flush_cache();
        hub().slice_end(path(), "reset-destage", "disk",
                        {{"result", ok ? "done" : reset_since(rgen) ? "reset" : "power-lost"}});
        if (!ok) return false;
    }
    return gen == power_cycles_ && !reset_since(rgen);
}

void SataDrive::power_on() {
    if (power_ != Power::Off) return;
    set_power(Power::Standby);
}

std::vector<uint64_t> SataDrive::written_since(Picos since, uint64_t first, uint64_t end) const {
    std::vector<uint64_t> out;
    for (auto it = written_at_.lower_bound(first); it != written_at_.end() && it->first < end; ++it)
        if (it->second >= since) out.push_back(it->first);
    return out;
}

std::vector<uint8_t> SataDrive::media(uint64_t lba) const {
    auto it = media_.find(lba);
    return it == media_.end() ? std::vector<uint8_t>(sector_size_, 0) : it->second;
}

std::vector<uint8_t> SataDrive::readable(uint64_t lba) const {
    auto it = cache_.find(lba);
    return it == cache_.end() ? media(lba) : it->second;
}

}  // namespace quiesce
