// The USB core's side of a device on a root-hub port: enumeration, suspend, resume, remote wakeup.
#include "sim/drivers/usb_driver.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"

#include "models/cpu/cpu.h"
#include "models/usb/usb_device.h"
#include "models/usb/xhci.h"
#include "sim/drivers/xhci_driver.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace quiesce {

namespace {
constexpr int kEIO = -5, kENODEV = -19, kEPROTO = -71, kETIMEDOUT = -110;
constexpr Picos kStorageTimeout = 30'000'000'000'000ULL;  // usb-storage: 30 s per transfer
using X = XhciCore;
}  // namespace

// --- the USB device ----------------------------------------------------------

UsbDeviceDriver::UsbDeviceDriver(std::string name, Kernel& kernel, XhciDriver& hcd, unsigned port, bool persist,
                                 bool wakeup, SharedProgram program)
    : name_(std::move(name)), kernel_(kernel), hcd_(hcd), port_(port), persist_(persist), wakeup_(wakeup),
      runner_(std::move(program), *this, kernel) {}

unsigned UsbDeviceDriver::slot(Cpu& cpu) const { return d_ ? cpu.read32(d_ + F_SLOT) : 0; }
uint64_t UsbDeviceDriver::buffer(Cpu& cpu) const { return cpu.read64(d_ + F_BUF); }
unsigned UsbDeviceDriver::endpoints(Cpu& cpu) const { return cpu.read32(d_ + F_NEPS); }
uint64_t UsbDeviceDriver::ring(Cpu& cpu, unsigned i) const { return cpu.read64(d_ + F_EPS + kEpEntry * i + 16); }

UsbDeviceDriver::Endpoint UsbDeviceDriver::endpoint(Cpu& cpu, unsigned i) const {
    const uint64_t e = d_ + F_EPS + kEpEntry * i;
    return {uint8_t(cpu.read32(e)), uint8_t(cpu.read32(e + 4)), cpu.read32(e + 8), cpu.read32(e + 12)};
}

int UsbDeviceDriver::request(Cpu& cpu, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
                             unsigned* actual) {
    SetupPacket sp{type, req, value, index, length};
    unsigned got = 0;
    int rc = hcd_.control(cpu, cpu.read32(d_ + F_SLOT), cpu.read64(d_ + F_EP0), sp, buffer(cpu), got);
    if (actual) *actual = got;
    return rc;
}

int UsbDeviceDriver::probe(Cpu& cpu) {
    d_ = kernel_.alloc(256, 64);
    cpu.write64(d_ + F_BUF, kernel_.alloc(256, 64));
    cpu.write64(d_ + F_IN_CTX, kernel_.alloc(33 * X::kCtx, 64));
    cpu.write64(d_ + F_OUT_CTX, kernel_.alloc(32 * X::kCtx, 64));
    runner_.bind();
    hcd_.set_port_owner(port_, name_);
    int rc = enumerate(cpu, false);
    if (rc == 0) rc = configure(cpu);
    if (rc == 0) rc = bind(cpu, false);
    kernel_.hub().instant(kernel_.path(), "usb-new-device", "driver",
                          {{"device", name_}, {"port", std::to_string(port_)}, {"rc", std::to_string(rc)}});
    return rc;
}

int UsbDeviceDriver::enumerate(Cpu& cpu, bool verify) {
    if (int rc = hcd_.reset_port(cpu, port_)) return rc;
    unsigned slot = 0;
    int cc = 0;
    if (verify && controller_has_slot(cpu)) {
        // usb_reset_and_verify_device: the device was reset at its port and
        // the controller still has its slot (xhci_discover_or_reset_device):
        // Reset Device, and the same slot is addressed again. xHCI's refusals
        // (a slot in the wrong state) are only logged by Linux.
        slot = cpu.read32(d_ + F_SLOT);
        cc = hcd_.command(cpu, X::TRB_RESET_DEVICE, 0, slot << 24);
        if (cc < 0) return cc;
    } else {
        // A new device, or one whose slot the controller lost with its
        // state (xhci_alloc_dev).
        cc = hcd_.command(cpu, X::TRB_ENABLE_SLOT, 0, 0, &slot);
        if (cc != int(X::CC_SUCCESS) || slot == 0) return cc < 0 ? cc : -12;  // -ENOMEM: no slot
    }
    cpu.write32(d_ + F_SLOT, slot);
    cpu.write32(d_ + F_GEN, hcd_.generation(cpu));
    const uint64_t in = cpu.read64(d_ + F_IN_CTX), out = cpu.read64(d_ + F_OUT_CTX);
    std::vector<uint8_t> zero(33 * X::kCtx, 0);
    cpu.write_block(in, zero.data(), 33 * X::kCtx);
    cpu.write_block(out, zero.data(), 32 * X::kCtx);
    cpu.write64(hcd_.dcbaa(cpu) + 8 * slot, out);
    // A fresh EP0 ring: the controller starts at its first TRB.
    const uint64_t ep0 = hcd_.new_ring(cpu);
    cpu.write64(d_ + F_EP0, ep0);
    const unsigned speed = (hcd_.portsc(cpu, port_) & X::PORTSC_SPEED) >> X::PORTSC_SPEED_SHIFT;
    const unsigned mps = speed == UsbDevice::kHighSpeed ? 64 : 8;
    cpu.write32(in + 4, 3);                                 // add A0 (slot), A1 (EP0)
    cpu.write32(in + X::kCtx, (speed << 20) | (1u << 27));  // speed, context entries 1
    cpu.write32(in + X::kCtx + 4, port_ << 16);             // root hub port number
    cpu.write32(in + 2 * X::kCtx + 4, (3u << 1) | (4u << 3) | (mps << 16));  // CErr 3, control, MPS
    cpu.write64(in + 2 * X::kCtx + 8, cpu.read64(ep0) | cpu.read32(ep0 + 16));  // TR dequeue | DCS
    cc = hcd_.command(cpu, X::TRB_ADDRESS_DEVICE, in, slot << 24);
    if (cc != int(X::CC_SUCCESS)) return cc < 0 ? cc : kEPROTO;
    unsigned got = 0;
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_DEVICE << 8, 0, 18, &got)) return rc;
    if (got != 18) return kEPROTO;
    const uint64_t buf = buffer(cpu);
    std::vector<uint8_t> desc(18), serial;
    cpu.read_block(buf, desc.data(), 18);
    if (desc[16]) {  // iSerialNumber
        if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, uint16_t(UsbDevice::DESC_STRING << 8 | desc[16]),
                             0x0409, 64, &got))
            return rc;
        serial.resize(got);
        cpu.read_block(buf, serial.data(), got);
    }
    if (verify) {
        // usb_reset_and_verify_device: the same device? (descriptors_changed)
        std::vector<uint8_t> had(18), had_serial(cpu.read32(d_ + F_SERIAL_LEN));
        cpu.read_block(d_ + F_DESC, had.data(), 18);
        if (!had_serial.empty()) cpu.read_block(d_ + F_SERIAL, had_serial.data(), unsigned(had_serial.size()));
        if (had != desc || had_serial != serial) return kENODEV;
    }
    cpu.write_block(d_ + F_DESC, desc.data(), 18);
    serial.resize(std::min<size_t>(serial.size(), 64));
    if (!serial.empty()) cpu.write_block(d_ + F_SERIAL, serial.data(), unsigned(serial.size()));
    cpu.write32(d_ + F_SERIAL_LEN, uint32_t(serial.size()));
    // The configuration and its data endpoints.
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_CONFIG << 8, 0, 9, &got)) return rc;
    const unsigned total = cpu.read32(buf) >> 16 & 0xffff;
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_CONFIG << 8, 0,
                         uint16_t(std::min(total, 255u)), &got))
        return rc;
    std::vector<uint8_t> config(got);
    cpu.read_block(buf, config.data(), got);
    unsigned n = 0;
    for (size_t i = 0; i + 6 < config.size() && config[i] >= 2 && n < kMaxEndpoints; i += config[i]) {
        if (config[i + 1] != 5 || (config[i + 3] & 3) < 2) continue;  // bulk and interrupt endpoints
        const uint64_t e = d_ + F_EPS + kEpEntry * n++;
        cpu.write32(e, config[i + 2]);
        cpu.write32(e + 4, config[i + 3] & 3);
        cpu.write32(e + 8, uint32_t(config[i + 4]) | uint32_t(config[i + 5]) << 8);
        cpu.write32(e + 12, config[i + 6]);
    }
    cpu.write32(d_ + F_NEPS, n);
    return n ? 0 : kENODEV;
}

// SET_CONFIGURATION, then Configure Endpoint with a fresh ring for each
// data endpoint.
int UsbDeviceDriver::configure(Cpu& cpu) {
    if (int rc = request(cpu, 0x00, UsbDevice::SET_CONFIGURATION, 1, 0, 0)) return rc;
    const unsigned slot = cpu.read32(d_ + F_SLOT);
    const uint64_t in = cpu.read64(d_ + F_IN_CTX);
    std::vector<uint8_t> zero(33 * X::kCtx, 0);
    cpu.write_block(in, zero.data(), 33 * X::kCtx);
    uint32_t add = 1;
    unsigned last = 1;
    for (unsigned i = 0; i < endpoints(cpu); ++i) {
        const Endpoint ep = endpoint(cpu, i);
        const unsigned dc = dci(ep.address);
        const uint64_t r = hcd_.new_ring(cpu);
        cpu.write64(d_ + F_EPS + kEpEntry * i + 16, r);
        add |= 1u << dc;
        last = std::max(last, dc);
        const uint64_t ctx = in + X::kCtx * (dc + 1);
        const unsigned type = ((ep.address & 0x80) ? 4 : 0) + (ep.type == 2 ? 2 : 3);  // bulk/interrupt, OUT/IN
        cpu.write32(ctx, ep.interval << 16);
        cpu.write32(ctx + 4, (3u << 1) | (type << 3) | (ep.mps << 16));
        cpu.write64(ctx + 8, cpu.read64(r) | cpu.read32(r + 16));
    }
    cpu.write32(in + 4, add);
    cpu.write32(in + X::kCtx, last << 27);
    int cc = hcd_.command(cpu, X::TRB_CONFIGURE_EP, in, slot << 24);
    if (cc != int(X::CC_SUCCESS)) return cc < 0 ? cc : kEPROTO;
    cpu.write32(d_ + F_STATE, Configured);
    return 0;
}

void UsbDeviceDriver::restart_endpoints(Cpu& cpu) {
    for (unsigned i = 0; i < endpoints(cpu); ++i)
        hcd_.ring_doorbell(cpu, cpu.read32(d_ + F_SLOT), dci(endpoint(cpu, i).address));
}

int UsbDeviceDriver::command(Cpu& cpu, const std::string& name, DriverRunner&) {
    const uint32_t state = cpu.read32(d_ + F_STATE);
    if (name == "is-configured") return state == Configured ? 1 : 0;
    if (name == "is-suspended") return state == Suspended ? 1 : 0;
    if (name == "enable-remote-wakeup" || name == "disable-remote-wakeup") {
        const uint8_t req = name == "enable-remote-wakeup" ? UsbDevice::SET_FEATURE : UsbDevice::CLEAR_FEATURE;
        return !wakeup_ || request(cpu, 0x00, req, UsbDevice::DEVICE_REMOTE_WAKEUP, 0, 0) == 0
                   ? 0
                   : -16;  // -EBUSY: "can't set remote wakeup"
    }
    if (name == "stop-endpoints") {
        for (unsigned i = 0; i < endpoints(cpu); ++i)
            if (int rc = hcd_.stop_endpoint(cpu, cpu.read32(d_ + F_SLOT), dci(endpoint(cpu, i).address))) return rc;
        return 0;
    }
    if (name == "suspend-port") return hcd_.suspend_port(cpu, port_);
    if (name == "resume-port") return hcd_.resume_port(cpu, port_);
    if (name == "restart-endpoints") {
        restart_endpoints(cpu);
        return 0;
    }
    if (name == "mark-suspended" || name == "mark-configured") {
        cpu.write32(d_ + F_STATE, name == "mark-suspended" ? Suspended : Configured);
        return 0;
    }
    if (name == "class-resume") {
        resumed(cpu);
        return 0;
    }
    if (name == "session-lost")
        return hcd_.generation(cpu) != cpu.read32(d_ + F_GEN) || !(hcd_.portsc(cpu, port_) & X::PORTSC_PED) ? 1 : 0;
    if (name == "reset-resume") return reset_resume(cpu);
    if (name == "port-connected") return (hcd_.portsc(cpu, port_) & X::PORTSC_CCS) ? 1 : 0;
    if (name == "disconnect") return disconnect(cpu);
    SIM_PANIC("usb driver: no command {} (validation missed it)", name);
}

// The power session is over (the controller lost its state): persist keeps
// the device if it is the same one; otherwise it is gone and a new one
// appears in its place.
int UsbDeviceDriver::reset_resume(Cpu& cpu) {
    if (persist_) {
        int rc = enumerate(cpu, true);
        if (rc == 0) rc = configure(cpu);
        if (rc == 0) rc = bind(cpu, true);
        kernel_.hub().instant(kernel_.path(), "usb-reset-resume", "driver",
                              {{"device", name_}, {"rc", std::to_string(rc)}});
        if (rc == 0) return 0;
    }
    disconnected(cpu);
    const int cc = free_slot(cpu);
    kernel_.hub().instant(kernel_.path(), "usb-disconnect", "driver",
                          {{"device", name_},
                           {"reason", persist_ ? "not the same device after the reset" : "power session lost"},
                           {"disable_slot", std::to_string(cc)}});
    int rc = enumerate(cpu, false);
    if (rc == 0) rc = configure(cpu);
    if (rc == 0) rc = bind(cpu, false);
    kernel_.hub().instant(kernel_.path(), "usb-new-device", "driver",
                          {{"device", name_}, {"port", std::to_string(port_)}, {"rc", std::to_string(rc)}});
    return 0;  // the old device's resume has nothing left to fail
}

// The device is not at its port any more (unplugged while the system
// slept): hub_port_logical_disconnect, then hub_wq's usb_disconnect - the
// class driver lets go (the disk is dead: its requests fail with -ENODEV),
// the handles processes hold to the device and its disk are revoked, the
// controller's slot is disabled (xhci_free_dev). usb_resume hides the
// -ENODEV from the PM core: the disconnect is the report.
int UsbDeviceDriver::disconnect(Cpu& cpu) {
    disconnected(cpu);
    const int cc = free_slot(cpu);
    cpu.write32(d_ + F_STATE, None);
    unsigned revoked = kernel_.revoke_handles(name_);
    revoked += revoke_class_handles();
    kernel_.hub().instant(kernel_.path(), "usb-disconnect", "driver",
                          {{"device", name_}, {"reason", "no device at the port after resume"},
                           {"port", std::to_string(port_)}, {"disable_slot", std::to_string(cc)},
                           {"handles_revoked", std::to_string(revoked)}});
    return 0;
}

// Does the controller still hold the device's slot? Not once it lost its
// state (a reset: the HCD's generation moved on, xhci_resume freed every
// device) - that slot number may belong to another device by now.
bool UsbDeviceDriver::controller_has_slot(Cpu& cpu) const {
    return cpu.read32(d_ + F_SLOT) != 0 && cpu.read32(d_ + F_GEN) == hcd_.generation(cpu);
}

// xhci_free_dev when the USB core lets go of a device: Disable Slot, if the
// controller still holds it. The xHCI completion code, 0 if nothing to do.
int UsbDeviceDriver::free_slot(Cpu& cpu) {
    const int cc = controller_has_slot(cpu) ? hcd_.command(cpu, X::TRB_DISABLE_SLOT, 0, cpu.read32(d_ + F_SLOT) << 24)
                                            : 0;
    cpu.write32(d_ + F_SLOT, 0);
    return cc;
}

// --- usbhid --------------------------------------------------------------------

uint64_t UsbHidDriver::keys(Cpu& cpu) const { return hid_ ? cpu.read64(hid_ + 8) : 0; }

int UsbHidDriver::bind(Cpu& cpu, bool) {
    if (!hid_) hid_ = kernel_.alloc(80, 16);  // {-, keys, the report buffer (64)}
    if (endpoint(cpu, 0).type != 3 || !(endpoint(cpu, 0).address & 0x80)) return kENODEV;
    if (int rc = request(cpu, 0x21, 0x0a, 0, 0, 0)) return rc;  // HID SET_IDLE
    submit_report(cpu);
    return 0;
}

// usbhid's interrupt URB: one report TD, resubmitted from its completion.
void UsbHidDriver::submit_report(Cpu& cpu) {
    const uint64_t buf = hid_ + 16;
    const Endpoint ep = endpoint(cpu, 0);
    hcd_.submit(cpu, slot(cpu), dci(ep.address), ring(cpu, 0), buf, ep.mps,
                [this, buf](Cpu& c, uint32_t cc, unsigned actual) {
                    if (cc != X::CC_SUCCESS && cc != X::CC_SHORT_PACKET) return;
                    const unsigned usage = c.read32(buf) >> 16 & 0xff;
                    if (actual >= 3 && usage) {
                        c.write64(hid_ + 8, c.read64(hid_ + 8) + 1);
                        kernel_.hub().instant(kernel_.path(), "input-key", "driver",
                                              {{"device", name_}, {"usage", std::to_string(usage)}});
                    }
                    submit_report(c);
                });
}

// --- usb-storage and sd ------------------------------------------------------------

UsbStorageDriver::UsbStorageDriver(std::string name, std::string disk, Kernel& kernel, XhciDriver& hcd,
                                   unsigned port, bool persist, SharedProgram usb, SharedProgram sd)
    : UsbDeviceDriver(std::move(name), kernel, hcd, port, persist, false, std::move(usb)), disk_(std::move(disk)),
      disk_host_(*this), sd_runner_(std::move(sd), disk_host_, kernel) {}

bool UsbStorageDriver::dead(Cpu& cpu) const { return s_ && cpu.read32(s_ + S_DEAD); }
bool UsbStorageDriver::blocked(Cpu& cpu) const { return cpu.read32(s_ + S_BLOCKED) != 0; }

void UsbStorageDriver::disconnected(Cpu& cpu) {
    if (!s_) return;
    cpu.write32(s_ + S_DEAD, 1);  // the gendisk is gone: what was mounted on it has lost its disk
    cpu.write32(s_ + S_BLOCKED, 0);
    quiesce::notify(unblocked_, sc_core::SC_ZERO_TIME);
}

unsigned UsbStorageDriver::revoke_class_handles() { return kernel_.revoke_handles(disk_); }

int UsbStorageDriver::bind(Cpu& cpu, bool again) {
    if (!s_) {
        s_ = kernel_.alloc(512, 64);
        sd_runner_.bind();
    }
    ep_in_ = ep_out_ = 0;
    for (unsigned i = 0; i < endpoints(cpu); ++i) {
        const Endpoint ep = endpoint(cpu, i);
        if (ep.type == 2) ((ep.address & 0x80) ? ep_in_ : ep_out_) = ep.address;
    }
    if (!ep_in_ || !ep_out_) return kENODEV;
    if (dead(cpu)) return 0;  // a new device after a disconnect is another disk
    const uint64_t data = s_ + S_DATA;
    const uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0}, tur[6] = {0, 0, 0, 0, 0, 0},
                  capacity[10] = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, mode[6] = {0x1a, 0x08, 0x08, 0, 32, 0};
    if (int rc = scsi(cpu, inquiry, 6, data, 36, true)) return rc;
    if (int rc = scsi(cpu, tur, 6, 0, 0, false)) return rc;
    if (int rc = scsi(cpu, capacity, 10, data, 8, true)) return rc;
    const uint32_t last = __builtin_bswap32(cpu.read32(data)), block = __builtin_bswap32(cpu.read32(data + 4));
    const uint64_t old = capacity_;
    capacity_ = uint64_t(last) + 1;
    sector_size_ = block;
    // sd_read_cache_type: the caching mode page's WCE bit.
    if (scsi(cpu, mode, 6, data, 32, true) == 0) write_cache_ = (cpu.read32(data + 4) >> 16) & 0x04;
    kernel_.hub().instant(kernel_.path(), "sd-attach", "driver",
                          {{"disk", disk_}, {"sectors", std::to_string(capacity_)},
                           {"write_cache", write_cache_ ? "1" : "0"}});
    return again && old != capacity_ ? kENODEV : 0;  // revalidation: another disk
}

int UsbStorageDriver::bulk(Cpu& cpu, uint8_t ep, uint64_t buf, unsigned len, unsigned& actual) {
    cpu.write32(s_ + S_DONE, 0);
    hcd_.submit(cpu, slot(cpu), dci(ep), ring(cpu, (endpoint(cpu, 0).address == ep) ? 0 : 1), buf, len,
                [this](Cpu& c, uint32_t cc, unsigned got) {
                    c.write32(s_ + S_CC, cc);
                    c.write32(s_ + S_ACTUAL, got);
                    c.write32(s_ + S_DONE, 1);
                    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
                });
    const Picos until = now_ps() + kStorageTimeout;
    while (!cpu.read32(s_ + S_DONE)) {
        if (now_ps() >= until) return kETIMEDOUT;
        kernel_.wait_event(done_, until - now_ps(), disk_ + ": usb-storage transfer");
    }
    const uint32_t cc = cpu.read32(s_ + S_CC);
    actual = cpu.read32(s_ + S_ACTUAL);
    return (cc == X::CC_SUCCESS || cc == X::CC_SHORT_PACKET) ? 0 : kEIO;
}

int UsbStorageDriver::scsi(Cpu& cpu, const uint8_t* cdb, unsigned cdb_len, uint64_t buf, uint32_t len, bool in) {
    if (dead(cpu)) return kENODEV;
    ++busy_;
    // One command at a time on the device (usb-storage's single queue).
    while (in_command_) kernel_.wait_event(done_, kStorageTimeout, disk_ + ": usb-storage busy");
    in_command_ = true;
    const uint32_t tag = cpu.read32(s_ + S_TAG) + 1;
    cpu.write32(s_ + S_TAG, tag);
    uint8_t cbw[32] = {};
    const uint32_t sig = 0x43425355;
    std::memcpy(cbw, &sig, 4);
    std::memcpy(cbw + 4, &tag, 4);
    std::memcpy(cbw + 8, &len, 4);
    cbw[12] = in ? 0x80 : 0;
    cbw[14] = uint8_t(cdb_len);
    std::memcpy(cbw + 15, cdb, cdb_len);
    cpu.write_block(s_ + S_CBW, cbw, 31);
    unsigned got = 0;
    int rc = bulk(cpu, ep_out_, s_ + S_CBW, 31, got);
    if (rc == 0 && len) rc = bulk(cpu, in ? ep_in_ : ep_out_, buf, len, got);
    if (rc == 0) rc = bulk(cpu, ep_in_, s_ + S_CSW, 13, got);
    if (rc == 0) {
        const bool ok = cpu.read32(s_ + S_CSW) == 0x53425355 && cpu.read32(s_ + S_CSW + 4) == tag;
        rc = ok && (cpu.read32(s_ + S_CSW + 12) & 0xff) == 0 ? 0 : kEIO;
    }
    in_command_ = false;
    --busy_;
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
    return rc;
}

int UsbStorageDriver::submit(Cpu& cpu, const BlockRequest& req) {
    while (blocked(cpu))  // blk_mq_quiesce_queue: requests wait for resume
        kernel_.wait_event(unblocked_, kStorageTimeout, disk_ + ": request queue stopped until resume");
    if (dead(cpu)) return kENODEV;
    if (req.preflush)
        if (int rc = flush(cpu)) return rc;
    if (req.count == 0) return 0;
    if (req.sector + req.count > capacity_) return kEIO;
    const uint32_t per = 65536 / sector_size_;  // one TRB per data stage
    for (uint32_t done = 0; done < req.count; done += per) {
        const uint32_t n = std::min(per, req.count - done);
        const uint64_t lba = req.sector + done;
        const bool fua = req.write && req.fua && write_cache_;
        const uint8_t cdb[10] = {uint8_t(req.write ? 0x2a : 0x28), uint8_t(fua ? 0x08 : 0),
                                 uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8), uint8_t(lba), 0,
                                 uint8_t(n >> 8), uint8_t(n), 0};
        const uint64_t buf = req.buffer + uint64_t(done) * sector_size_;
        if (int rc = scsi(cpu, cdb, 10, buf, n * sector_size_, !req.write)) return rc;
        // Without a write cache (as far as sd knows) a completed write is durable.
        if (req.write && observer_.written) observer_.written(lba, n, buf, fua || !write_cache_);
    }
    return 0;
}

int UsbStorageDriver::flush(Cpu& cpu) {
    if (dead(cpu)) return kENODEV;
    if (!write_cache_) return 0;  // no cache: the block layer drops the flush
    const uint8_t sync[10] = {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const Picos issued = now_ps();
    int rc = scsi(cpu, sync, 10, 0, 0, false);
    if (rc == 0 && observer_.flushed) observer_.flushed(issued);
    return rc;
}

// blk_mq_quiesce_queue: requests wait in submit() until resume. A dead
// disk's queue is not stopped: its requests fail at once.
void UsbStorageDriver::Disk::queue_stop(Cpu& cpu) {
    if (!dev_.dead(cpu)) cpu.write32(dev_.s_ + S_BLOCKED, 1);
}

void UsbStorageDriver::Disk::queue_start(Cpu& cpu) {
    cpu.write32(dev_.s_ + S_BLOCKED, 0);
    quiesce::notify(dev_.unblocked_, sc_core::SC_ZERO_TIME);
}

int UsbStorageDriver::Disk::command(Cpu& cpu, const std::string& name, DriverRunner&) {
    if (dev_.dead(cpu)) return 0;  // the disk is gone: nothing to flush or to spin down
    if (name == "flush-cache") return dev_.flush(cpu);  // sd_sync_cache: SYNCHRONIZE CACHE when WCE
    if (name == "standby" || name == "start") return 0;  // no manage_system_start_stop on usb-storage
    SIM_PANIC("sd driver on {}: no command {} (validation missed it)", dev_.disk_, name);
}

}  // namespace quiesce
