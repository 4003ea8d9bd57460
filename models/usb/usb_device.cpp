#include "models/usb/usb_device.h"

#include <fmt/format.h>

namespace quiesce {

SetupPacket SetupPacket::from(uint64_t raw) {
    SetupPacket s;
    s.request_type = uint8_t(raw);
    s.request = uint8_t(raw >> 8);
    s.value = uint16_t(raw >> 16);
    s.index = uint16_t(raw >> 32);
    s.length = uint16_t(raw >> 48);
    return s;
}

uint64_t SetupPacket::raw() const {
    return uint64_t(request_type) | uint64_t(request) << 8 | uint64_t(value) << 16 | uint64_t(index) << 32 |
           uint64_t(length) << 48;
}

UsbDevice::UsbDevice(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Identity id)
    : Component(name, ctx, clock), id_(std::move(id)) {}

void UsbDevice::bus_reset() {
    address_ = configuration_ = 0;
    suspended_ = remote_wakeup_ = false;
    reset_function();
}

void UsbDevice::vbus_lost() {
    bus_reset();
    hub().instant(path(), "vbus-lost", "power");
}

void UsbDevice::set_address(uint8_t a) { address_ = a; }

void UsbDevice::set_suspended(bool on) {
    if (on == suspended_) return;
    suspended_ = on;
    hub().instant(path(), on ? "usb-suspend" : "usb-resume", "power");
}

bool UsbDevice::request_remote_wakeup() {
    if (!suspended_ || !remote_wakeup_ || !can_signal()) return false;
    hub().instant(path(), "remote-wakeup", "wake");
    if (on_remote_wakeup) on_remote_wakeup();
    return true;
}

std::vector<uint8_t> UsbDevice::device_descriptor() const {
    return {18, DESC_DEVICE, 0x00, 0x02,  // bcdUSB 2.00
            id_.device_class, 0, 0, id_.max_packet0,
            uint8_t(id_.vendor), uint8_t(id_.vendor >> 8), uint8_t(id_.product), uint8_t(id_.product >> 8),
            0x00, 0x01,  // bcdDevice 1.00
            0, 0, uint8_t(id_.serial.empty() ? 0 : 3), 1};
}

std::vector<uint8_t> UsbDevice::string_descriptor(uint8_t index) const {
    if (index == 0) return {4, DESC_STRING, 0x09, 0x04};  // LANGID en-US
    if (index != 3 || id_.serial.empty()) return {};
    std::vector<uint8_t> d{uint8_t(2 + 2 * id_.serial.size()), DESC_STRING};
    for (char c : id_.serial) {
        d.push_back(uint8_t(c));
        d.push_back(0);
    }
    return d;
}

UsbResult UsbDevice::control(const SetupPacket& s, std::vector<uint8_t>& data) {
    if (!powered_) return UsbResult::Stall;
    const bool in = s.request_type & 0x80;
    if ((s.request_type & 0x60) != 0) return class_request(s, data);  // class or vendor
    auto reply = [&](std::vector<uint8_t> d) {
        if (d.empty()) return UsbResult::Stall;
        d.resize(std::min<size_t>(d.size(), s.length));
        data = std::move(d);
        return UsbResult::Ack;
    };
    switch (s.request) {
    case GET_DESCRIPTOR: {
        if (!in) return UsbResult::Stall;
        uint8_t type = uint8_t(s.value >> 8), index = uint8_t(s.value);
        if (type == DESC_DEVICE) return reply(device_descriptor());
        if (type == DESC_CONFIG && index == 0) {
            auto c = configuration_descriptor();
            c[2] = uint8_t(c.size());
            c[3] = uint8_t(c.size() >> 8);
            return reply(c);
        }
        if (type == DESC_STRING) return reply(string_descriptor(index));
        return UsbResult::Stall;
    }
    case SET_CONFIGURATION:
        if (address_ == 0 || s.value > 1) return UsbResult::Stall;
        configuration_ = uint8_t(s.value);
        configured(configuration_);
        return UsbResult::Ack;
    case GET_CONFIGURATION:
        return reply({configuration_});
    case GET_STATUS:
        return reply({uint8_t(remote_wakeup_ ? 2 : 0), 0});
    case SET_FEATURE:
    case CLEAR_FEATURE:
        if ((s.request_type & 0x1f) != 0 || s.value != DEVICE_REMOTE_WAKEUP) return UsbResult::Stall;
        if (!(configuration_descriptor()[7] & ATTR_REMOTE_WAKEUP)) return UsbResult::Stall;
        remote_wakeup_ = s.request == SET_FEATURE;
        return UsbResult::Ack;
    default:
        return UsbResult::Stall;
    }
}

UsbKeyboard::UsbKeyboard(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Identity id)
    : UsbDevice(name, ctx, clock, std::move(id)) {}

std::vector<uint8_t> UsbKeyboard::configuration_descriptor() const {
    return {// configuration: 1 interface, value 1, bus powered + remote wakeup, 100 mA
            9, DESC_CONFIG, 0, 0, 1, 1, 0, uint8_t(0x80 | ATTR_REMOTE_WAKEUP), 50,
            // interface 0: HID boot keyboard, 1 endpoint
            9, 4, 0, 0, 1, 3, 1, 1, 0,
            // HID descriptor (report descriptor length 63)
            9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0,
            // endpoint 0x81: interrupt IN, 8 bytes, every 10 ms
            7, 5, kEndpoint, 3, kReportSize, 0, 10};
}

UsbResult UsbKeyboard::class_request(const SetupPacket& s, std::vector<uint8_t>&) {
    if (s.request_type == 0x21 && (s.request == 0x0a || s.request == 0x0b)) return UsbResult::Ack;  // SET_IDLE/PROTOCOL
    return UsbResult::Stall;
}

void UsbKeyboard::press_key(uint8_t usage) {
    ++presses_;
    hub().instant(path(), "key-press", "input", {{"usage", std::to_string(usage)}});
    if (!can_signal()) return;  // not configured: nobody listens
    reports_.push_back({0, 0, usage, 0, 0, 0, 0, 0});
    reports_.push_back(std::vector<uint8_t>(kReportSize, 0));  // release
    if (suspended()) {
        request_remote_wakeup();  // the reports wait for the resume
        return;
    }
    if (on_data_ready) on_data_ready();
}

UsbResult UsbKeyboard::transfer(uint8_t ep, std::vector<uint8_t>& data, unsigned max_len) {
    if (ep != kEndpoint || configuration() == 0) return UsbResult::Stall;
    if (suspended() || reports_.empty()) return UsbResult::Nak;
    data = reports_.front();
    data.resize(std::min<size_t>(data.size(), max_len));
    reports_.erase(reports_.begin());
    return UsbResult::Ack;
}

}  // namespace quiesce
