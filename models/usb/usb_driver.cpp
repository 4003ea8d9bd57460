#include "models/usb/usb_driver.h"

#include "models/cpu/cpu.h"
#include "models/usb/usb_device.h"
#include "models/usb/xhci.h"
#include "models/usb/xhci_driver.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <vector>

namespace quiesce {

namespace {
constexpr int kENODEV = -19;
using X = XhciCore;
}  // namespace

UsbDeviceDriver::UsbDeviceDriver(std::string name, Kernel& kernel, XhciDriver& hcd, unsigned port, bool persist,
                                 bool wakeup)
    : name_(std::move(name)), kernel_(kernel), hcd_(hcd), port_(port), persist_(persist), wakeup_(wakeup) {}

unsigned UsbDeviceDriver::dci() const { return unsigned(ep_ & 0x0f) * 2 + ((ep_ & 0x80) ? 1 : 0); }

uint64_t UsbDeviceDriver::keys(Cpu& cpu) const { return d_ ? cpu.read64(d_ + F_KEYS) : 0; }

unsigned UsbDeviceDriver::slot(Cpu& cpu) const { return d_ ? cpu.read32(d_ + F_SLOT) : 0; }

int UsbDeviceDriver::request(Cpu& cpu, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
                             unsigned* actual) {
    SetupPacket sp{type, req, value, index, length};
    unsigned got = 0;
    int rc = hcd_.control(cpu, cpu.read32(d_ + F_SLOT), cpu.read64(d_ + F_EP0), sp, cpu.read64(d_ + F_BUF), got);
    if (actual) *actual = got;
    return rc;
}

int UsbDeviceDriver::probe(Cpu& cpu) {
    d_ = kernel_.alloc(192, 64);
    cpu.write64(d_ + F_BUF, kernel_.alloc(256, 64));
    cpu.write64(d_ + F_REPORT, kernel_.alloc(64, 64));
    cpu.write64(d_ + F_IN_CTX, kernel_.alloc(33 * X::kCtx, 64));
    cpu.write64(d_ + F_OUT_CTX, kernel_.alloc(32 * X::kCtx, 64));
    hcd_.set_port_owner(port_, name_);
    int rc = enumerate(cpu, false);
    if (rc == 0) rc = configure(cpu);
    kernel_.hub().instant(kernel_.path(), "usb-new-device", "driver",
                          {{"device", name_}, {"port", std::to_string(port_)}, {"rc", std::to_string(rc)}});
    return rc;
}

int UsbDeviceDriver::enumerate(Cpu& cpu, bool verify) {
    if (int rc = hcd_.reset_port(cpu, port_)) return rc;
    unsigned slot = 0;
    int cc = hcd_.command(cpu, X::TRB_ENABLE_SLOT, 0, 0, &slot);
    if (cc != int(X::CC_SUCCESS) || slot == 0) return cc < 0 ? cc : -12;  // -ENOMEM: no slot
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
    cpu.write32(in + 4, 3);                               // add A0 (slot), A1 (EP0)
    cpu.write32(in + X::kCtx, (speed << 20) | (1u << 27));  // speed, context entries 1
    cpu.write32(in + X::kCtx + 4, port_ << 16);           // root hub port number
    cpu.write32(in + 2 * X::kCtx + 4, (3u << 1) | (4u << 3) | (mps << 16));  // CErr 3, control, MPS
    cpu.write64(in + 2 * X::kCtx + 8, cpu.read64(ep0) | cpu.read32(ep0 + 16));  // TR dequeue | DCS
    cc = hcd_.command(cpu, X::TRB_ADDRESS_DEVICE, in, slot << 24);
    if (cc != int(X::CC_SUCCESS)) return cc < 0 ? cc : -71;  // -EPROTO
    unsigned got = 0;
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_DEVICE << 8, 0, 18, &got)) return rc;
    if (got != 18) return -71;
    const uint64_t buf = cpu.read64(d_ + F_BUF);
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
    if (!serial.empty()) cpu.write_block(d_ + F_SERIAL, serial.data(), unsigned(std::min<size_t>(serial.size(), 64)));
    cpu.write32(d_ + F_SERIAL_LEN, uint32_t(std::min<size_t>(serial.size(), 64)));
    // The configuration: its interrupt IN endpoint.
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_CONFIG << 8, 0, 9, &got)) return rc;
    const unsigned total = cpu.read32(buf) >> 16 & 0xffff;
    if (int rc = request(cpu, 0x80, UsbDevice::GET_DESCRIPTOR, UsbDevice::DESC_CONFIG << 8, 0,
                         uint16_t(std::min(total, 255u)), &got))
        return rc;
    std::vector<uint8_t> config(got);
    cpu.read_block(buf, config.data(), got);
    ep_ = 0;
    for (size_t i = 0; i + 1 < config.size() && config[i] >= 2; i += config[i])
        if (config[i + 1] == 5 && i + 6 < config.size() && (config[i + 3] & 3) == 3 && (config[i + 2] & 0x80)) {
            ep_ = config[i + 2];
            cpu.write32(d_ + F_MPS, config[i + 4]);
            cpu.write32(d_ + F_INTERVAL, config[i + 6]);
        }
    cpu.write32(d_ + F_EP, ep_);
    return ep_ ? 0 : kENODEV;
}

// SET_CONFIGURATION, Configure Endpoint, then the class driver (usbhid).
int UsbDeviceDriver::configure(Cpu& cpu) {
    if (int rc = request(cpu, 0x00, UsbDevice::SET_CONFIGURATION, 1, 0, 0)) return rc;
    const unsigned slot = cpu.read32(d_ + F_SLOT), dc = dci();
    const uint64_t in = cpu.read64(d_ + F_IN_CTX);
    std::vector<uint8_t> zero(33 * X::kCtx, 0);
    cpu.write_block(in, zero.data(), 33 * X::kCtx);
    const uint64_t ring = hcd_.new_ring(cpu);
    cpu.write64(d_ + F_INT, ring);
    cpu.write32(in + 4, 1u | (1u << dc));
    cpu.write32(in + X::kCtx, dc << 27);
    const uint64_t ep = in + X::kCtx * (dc + 1);
    cpu.write32(ep, cpu.read32(d_ + F_INTERVAL) << 16);
    cpu.write32(ep + 4, (3u << 1) | (7u << 3) | (cpu.read32(d_ + F_MPS) << 16));  // interrupt IN
    cpu.write64(ep + 8, cpu.read64(ring) | cpu.read32(ring + 16));
    int cc = hcd_.command(cpu, X::TRB_CONFIGURE_EP, in, slot << 24);
    if (cc != int(X::CC_SUCCESS)) return cc < 0 ? cc : -71;
    if (int rc = request(cpu, 0x21, 0x0a, 0, 0, 0)) return rc;  // HID SET_IDLE
    cpu.write32(d_ + F_STATE, Configured);
    submit_report(cpu);
    return 0;
}

// usbhid's interrupt URB: one report TD, resubmitted from its completion.
void UsbDeviceDriver::submit_report(Cpu& cpu) {
    const uint64_t report = cpu.read64(d_ + F_REPORT);
    hcd_.submit(cpu, cpu.read32(d_ + F_SLOT), dci(), cpu.read64(d_ + F_INT), report, cpu.read32(d_ + F_MPS),
                [this, report](Cpu& c, uint32_t cc, unsigned actual) {
                    if (cc != X::CC_SUCCESS && cc != X::CC_SHORT_PACKET) return;
                    if (actual >= 3 && (c.read32(report) >> 16 & 0xff)) {
                        c.write64(d_ + F_KEYS, c.read64(d_ + F_KEYS) + 1);
                        kernel_.hub().instant(kernel_.path(), "input-key", "driver",
                                              {{"device", name_}, {"usage", std::to_string(c.read32(report) >> 16 & 0xff)}});
                    }
                    if (c.read32(d_ + F_STATE) != Gone) submit_report(c);
                });
}

int UsbDeviceDriver::suspend(Cpu& cpu) {
    if (cpu.read32(d_ + F_STATE) != Configured) return 0;
    if (wakeup_ && request(cpu, 0x00, UsbDevice::SET_FEATURE, UsbDevice::DEVICE_REMOTE_WAKEUP, 0, 0) != 0)
        return -16;  // -EBUSY: "can't set remote wakeup"
    if (int rc = hcd_.stop_endpoint(cpu, cpu.read32(d_ + F_SLOT), dci())) return rc;
    if (int rc = hcd_.suspend_port(cpu, port_)) {
        // The device signalled resume while its link went down (a key
        // pressed just then): usb_port_suspend fails, the device is resumed
        // and runs on, and the system suspend aborts.
        hcd_.resume_port(cpu, port_);
        if (wakeup_) request(cpu, 0x00, UsbDevice::CLEAR_FEATURE, UsbDevice::DEVICE_REMOTE_WAKEUP, 0, 0);
        hcd_.ring_doorbell(cpu, cpu.read32(d_ + F_SLOT), dci());
        return rc;
    }
    cpu.write32(d_ + F_STATE, Suspended);
    return 0;
}

int UsbDeviceDriver::resume(Cpu& cpu) {
    const uint32_t state = cpu.read32(d_ + F_STATE);
    if (state == Gone) return 0;
    const bool lost = hcd_.generation(cpu) != cpu.read32(d_ + F_GEN) ||
                      !(hcd_.portsc(cpu, port_) & X::PORTSC_PED);
    if (lost) return reset_resume(cpu);
    if (state != Suspended) return 0;
    if (int rc = hcd_.resume_port(cpu, port_)) return rc;
    if (wakeup_) request(cpu, 0x00, UsbDevice::CLEAR_FEATURE, UsbDevice::DEVICE_REMOTE_WAKEUP, 0, 0);
    cpu.write32(d_ + F_STATE, Configured);
    hcd_.ring_doorbell(cpu, cpu.read32(d_ + F_SLOT), dci());  // the report TD is still queued
    return 0;
}

// The power session is over (the controller lost its state): persist keeps
// the device if it is the same one; otherwise it is gone and a new one
// appears in its place.
int UsbDeviceDriver::reset_resume(Cpu& cpu) {
    if (persist_) {
        int rc = enumerate(cpu, true);
        if (rc == 0) rc = configure(cpu);
        kernel_.hub().instant(kernel_.path(), "usb-reset-resume", "driver",
                              {{"device", name_}, {"rc", std::to_string(rc)}});
        if (rc == 0) return 0;
    }
    cpu.write32(d_ + F_STATE, Gone);
    kernel_.hub().instant(kernel_.path(), "usb-disconnect", "driver",
                          {{"device", name_},
                           {"reason", persist_ ? "not the same device after the reset" : "power session lost"}});
    int rc = enumerate(cpu, false);
    if (rc == 0) rc = configure(cpu);
    kernel_.hub().instant(kernel_.path(), "usb-new-device", "driver",
                          {{"device", name_}, {"port", std::to_string(port_)}, {"rc", std::to_string(rc)}});
    return 0;  // the old device's resume has nothing left to fail
}

int UsbDeviceDriver::pm(const std::string& cb, Cpu& cpu) {
    if (!d_) return 0;
    if (cb == "suspend" || cb == "freeze" || cb == "poweroff") return suspend(cpu);
    if (cb == "resume" || cb == "thaw" || cb == "restore") return resume(cpu);
    return 0;
}

}  // namespace quiesce
