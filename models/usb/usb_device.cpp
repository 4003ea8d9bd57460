// A USB device on a root-hub port: port states, suspend and resume signalling, remote wakeup.
#include "models/usb/usb_device.h"
#include "sim/core/sync.h"

#include "models/disk/sata_drive.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

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
    power_lost();
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

UsbMassStorage::UsbMassStorage(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                               Identity id, SataDrive& drive)
    : UsbDevice(name, ctx, clock, std::move(id)), drive_(drive) {
    props().declare("reports_write_cache", true,
                    "MODE SENSE reports the drive's write cache (WCE); false: the bridge hides it while the drive "
                    "caches (Linux's US_FL_WRITE_CACHE quirk exists for such bridges)");
    props().declare("command_us", int64_t(50), "The bridge's own time per SCSI command, in us");
    SC_THREAD(worker);
}

std::vector<uint8_t> UsbMassStorage::configuration_descriptor() const {
    return {// configuration: 1 interface, value 1, bus powered, 500 mA
            9, DESC_CONFIG, 0, 0, 1, 1, 0, 0x80, 250,
            // interface 0: mass storage, SCSI transparent, bulk-only, 2 endpoints
            9, 4, 0, 0, 2, 8, 6, 0x50, 0,
            // bulk IN 0x81 and bulk OUT 0x02, 512 bytes
            7, 5, kBulkIn, 2, 0x00, 0x02, 0,
            7, 5, kBulkOut, 2, 0x00, 0x02, 0};
}

UsbResult UsbMassStorage::class_request(const SetupPacket& s, std::vector<uint8_t>& data) {
    if (s.request_type == 0xa1 && s.request == 0xfe) {  // Get Max LUN
        data = {0};
        return UsbResult::Ack;
    }
    if (s.request_type == 0x21 && s.request == 0xff) {  // Bulk-Only Mass Storage Reset
        reset_function();
        return UsbResult::Ack;
    }
    return UsbResult::Stall;
}

void UsbMassStorage::reset_function() {
    stage_ = Stage::Command;
    data_.clear();
    sent_ = 0;
}

void UsbMassStorage::power_lost() {
    drive_.power_off();  // the write cache is gone
    drive_.power_on();   // VBUS back with the port: in standby
}

void UsbMassStorage::sense(uint8_t key, uint8_t asc) {
    sense_key_ = key;
    asc_ = asc;
}

UsbResult UsbMassStorage::transfer(uint8_t ep, std::vector<uint8_t>& data, unsigned max_len) {
    if (configuration() == 0 || suspended()) return UsbResult::Stall;
    if (ep == kBulkOut) {
        if (stage_ == Stage::Command) {
            uint32_t sig = 0;
            if (data.size() != 31 || (std::memcpy(&sig, data.data(), 4), sig != 0x43425355)) return UsbResult::Stall;
            std::memcpy(&tag_, &data[4], 4);
            std::memcpy(&length_, &data[8], 4);
            in_ = data[12] & 0x80;
            std::memset(cdb_, 0, sizeof cdb_);
            std::memcpy(cdb_, &data[15], std::min<size_t>(data[14] & 0x1f, 16));
            data_.clear();
            sent_ = 0;
            stage_ = (length_ && !in_) ? Stage::DataOut : Stage::Busy;
            if (stage_ == Stage::Busy) quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
            return UsbResult::Ack;
        }
        if (stage_ == Stage::DataOut) {
            data_.insert(data_.end(), data.begin(), data.end());
            if (data_.size() >= length_) {
                stage_ = Stage::Busy;
                quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
            }
            return UsbResult::Ack;
        }
        return UsbResult::Nak;
    }
    if (ep != kBulkIn) return UsbResult::Stall;
    if (stage_ == Stage::DataIn) {
        size_t n = std::min<size_t>(max_len, data_.size() - sent_);
        data.assign(data_.begin() + long(sent_), data_.begin() + long(sent_ + n));
        sent_ += n;
        if (sent_ >= data_.size()) stage_ = Stage::Status;
        return UsbResult::Ack;
    }
    if (stage_ == Stage::Status) {
        data.assign(13, 0);
        uint32_t sig = 0x53425355;
        std::memcpy(&data[0], &sig, 4);
        std::memcpy(&data[4], &tag_, 4);
        std::memcpy(&data[8], &residue_, 4);
        data[12] = status_;
        stage_ = Stage::Command;
        return UsbResult::Ack;
    }
    return UsbResult::Nak;
}

void UsbMassStorage::worker() {
    for (;;) {
        quiesce::wait(kick_);
        if (stage_ != Stage::Busy) continue;
        wait_time(Picos(props().get<int64_t>("command_us")) * 1'000'000ULL);
        status_ = execute();
        residue_ = length_ > data_.size() && in_ ? uint32_t(length_ - data_.size()) : 0;
        if (in_ && length_ && status_ == 0) {
            data_.resize(std::min<size_t>(data_.size(), length_));
            stage_ = data_.empty() ? Stage::Status : Stage::DataIn;
        } else {
            stage_ = Stage::Status;
        }
        sent_ = 0;
        if (on_data_ready) on_data_ready();
    }
}

uint8_t UsbMassStorage::execute() {
    auto be32 = [&](unsigned at) {
        return uint32_t(cdb_[at]) << 24 | uint32_t(cdb_[at + 1]) << 16 | uint32_t(cdb_[at + 2]) << 8 | cdb_[at + 3];
    };
    const unsigned ss = drive_.sector_size();
    std::vector<uint8_t> none;
    switch (cdb_[0]) {
    case 0x00:  // TEST UNIT READY
        return 0;
    case 0x03:  // REQUEST SENSE
        data_ = std::vector<uint8_t>(18, 0);
        data_[0] = 0x70;
        data_[2] = sense_key_;
        data_[7] = 10;
        data_[12] = asc_;
        sense(0, 0);
        return 0;
    case 0x12: {  // INQUIRY: direct access, removable, "QUIESCE USB DISK"
        data_ = std::vector<uint8_t>(36, ' ');
        data_[0] = 0;
        data_[1] = 0x80;
        data_[2] = 6;
        data_[3] = 2;
        data_[4] = 31;
        data_[5] = data_[6] = data_[7] = 0;
        std::memcpy(&data_[8], "QUIESCE ", 8);
        std::memcpy(&data_[16], "USB DISK        ", 16);
        std::memcpy(&data_[32], "1.00", 4);
        return 0;
    }
    case 0x25: {  // READ CAPACITY(10)
        uint32_t last = uint32_t(drive_.sectors() - 1);
        data_ = {uint8_t(last >> 24), uint8_t(last >> 16), uint8_t(last >> 8), uint8_t(last),
                 uint8_t(ss >> 24),   uint8_t(ss >> 16),   uint8_t(ss >> 8),   uint8_t(ss)};
        return 0;
    }
    case 0x1a: {  // MODE SENSE(6): the caching page
        const bool wce = props().get<bool>("reports_write_cache");
        data_ = std::vector<uint8_t>(4 + 20, 0);
        data_[0] = uint8_t(data_.size() - 1);
        data_[4] = 0x08;  // caching page
        data_[5] = 18;
        data_[6] = wce ? 0x04 : 0;  // WCE
        return 0;
    }
    case 0x1b:  // START STOP UNIT
        return drive_.execute((cdb_[4] & 1) ? SataDrive::IDLE_IMMEDIATE : SataDrive::STANDBY_IMMEDIATE, 0, 0, none)
                   ? 0
                   : 1;
    case 0x35:  // SYNCHRONIZE CACHE(10)
        return drive_.execute(SataDrive::FLUSH_CACHE_EXT, 0, 0, none) ? 0 : 1;
    case 0x28:    // READ(10)
    case 0x2a: {  // WRITE(10)
        const uint64_t lba = be32(2);
        const uint32_t count = uint32_t(cdb_[7]) << 8 | cdb_[8];
        if (count * ss != length_ || lba + count > drive_.sectors()) {
            sense(5, 0x21);  // ILLEGAL REQUEST, LBA out of range
            data_.clear();
            return 1;
        }
        if (cdb_[0] == 0x28) {
            data_.clear();
            bool ok = drive_.execute(SataDrive::READ_DMA_EXT, lba, count, data_);
            if (!ok) sense(3, 0x11);  // MEDIUM ERROR, unrecovered read error
            return ok ? 0 : 1;
        }
        const bool fua = cdb_[1] & 0x08;
        data_.resize(size_t(count) * ss);
        bool ok = drive_.execute(fua ? SataDrive::WRITE_DMA_FUA_EXT : SataDrive::WRITE_DMA_EXT, lba, count, data_);
        data_.clear();
        if (!ok) sense(3, 0x0c);  // MEDIUM ERROR, write error
        return ok ? 0 : 1;
    }
    default:
        sense(5, 0x20);  // ILLEGAL REQUEST, invalid command operation code
        data_.clear();
        return 1;
    }
}

}  // namespace quiesce
