// A USB device on a root-hub port, as the host controller's port logic and
// transfer engine see it (USB 2.0 ch. 9): a bus reset returns it to the
// Default state (address 0, unconfigured, remote wakeup off); the controller
// gives it an address (SET_ADDRESS, during Address Device); standard
// requests on the default control pipe (GET_DESCRIPTOR device/configuration/
// string, SET_CONFIGURATION, GET_STATUS, SET/CLEAR_FEATURE
// DEVICE_REMOTE_WAKEUP); data endpoints answer ACK (with data), NAK (nothing
// yet) or STALL. Suspend (the link in U3) keeps its state; a suspended device
// whose remote wakeup the host enabled may signal resume. Losing VBUS (the
// power session) is a power-on reset.
#pragma once

#include "sim/core/module.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace quiesce {

struct SetupPacket {
    uint8_t request_type = 0, request = 0;
    uint16_t value = 0, index = 0, length = 0;
    static SetupPacket from(uint64_t raw);
    uint64_t raw() const;
};

enum class UsbResult { Ack, Nak, Stall };

class UsbDevice : public Component {
public:
    // Standard requests and features.
    static constexpr uint8_t GET_STATUS = 0, CLEAR_FEATURE = 1, SET_FEATURE = 3, SET_ADDRESS = 5,
                             GET_DESCRIPTOR = 6, GET_CONFIGURATION = 8, SET_CONFIGURATION = 9;
    static constexpr uint16_t DEVICE_REMOTE_WAKEUP = 1;
    static constexpr uint8_t DESC_DEVICE = 1, DESC_CONFIG = 2, DESC_STRING = 3;
    static constexpr uint8_t ATTR_REMOTE_WAKEUP = 1u << 5;
    // Port speeds as xHCI PORTSC reports them.
    static constexpr unsigned kFullSpeed = 1, kLowSpeed = 2, kHighSpeed = 3;

    struct Identity {
        uint16_t vendor = 0, product = 0;
        std::string serial;
        uint8_t device_class = 0;
        unsigned speed = kFullSpeed;
        uint8_t max_packet0 = 8;
    };

    UsbDevice(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Identity id);

    const Identity& identity() const { return id_; }
    unsigned speed() const { return id_.speed; }
    uint8_t address() const { return address_; }
    uint8_t configuration() const { return configuration_; }
    bool suspended() const { return suspended_; }
    bool remote_wakeup_enabled() const { return remote_wakeup_; }

    // --- port side ---------------------------------------------------------
    void bus_reset();
    void vbus_lost();  // the power session ends: a power-on reset
    void set_address(uint8_t a);
    void set_suspended(bool on);
    // The port's hooks: resume signalling (remote wakeup) and "an IN
    // endpoint has data now" (the controller retries the TD it NAKed).
    std::function<void()> on_remote_wakeup;
    std::function<void()> on_data_ready;

    // --- transfers ---------------------------------------------------------
    // A control transfer on endpoint 0: `data` carries the OUT data stage in
    // and the IN data stage out (at most setup.length bytes).
    UsbResult control(const SetupPacket& setup, std::vector<uint8_t>& data);
    // A transaction on data endpoint `ep` (bit 7: IN). IN: up to `max_len`
    // bytes into `data`; OUT: `data` is what the host sent.
    virtual UsbResult transfer(uint8_t ep, std::vector<uint8_t>& data, unsigned max_len) = 0;

protected:
    // The configuration descriptor with its interface and endpoint
    // descriptors (wTotalLength filled in by the base).
    virtual std::vector<uint8_t> configuration_descriptor() const = 0;
    // A class or vendor request; STALL unless the device knows it.
    virtual UsbResult class_request(const SetupPacket&, std::vector<uint8_t>&) { return UsbResult::Stall; }
    virtual void configured(uint8_t) {}
    virtual void reset_function() {}  // the class state a bus reset clears
    virtual void power_lost() {}      // what VBUS loss does beyond a reset
    // Signals resume (remote wakeup) when suspended and enabled; true if it did.
    bool request_remote_wakeup();
    bool can_signal() const { return powered_ && address_ != 0 && configuration_ != 0; }

private:
    std::vector<uint8_t> device_descriptor() const;
    std::vector<uint8_t> string_descriptor(uint8_t index) const;

    Identity id_;
    bool powered_ = true;
    uint8_t address_ = 0, configuration_ = 0;
    bool suspended_ = false, remote_wakeup_ = false;
};

// A HID boot keyboard (interface class 3, subclass 1, protocol 1) with one
// interrupt IN endpoint (0x81, 8-byte reports, 10 ms interval); it supports
// remote wakeup. A key press while suspended wakes the host if remote wakeup
// is enabled (the report is kept and delivered after resume).
class UsbKeyboard : public UsbDevice {
public:
    static constexpr uint8_t kEndpoint = 0x81, kReportSize = 8;

    UsbKeyboard(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Identity id);

    // A person presses (and releases) key `usage` (HID usage ID).
    void press_key(uint8_t usage);
    uint64_t presses() const { return presses_; }

    UsbResult transfer(uint8_t ep, std::vector<uint8_t>& data, unsigned max_len) override;

protected:
    std::vector<uint8_t> configuration_descriptor() const override;
    UsbResult class_request(const SetupPacket& s, std::vector<uint8_t>& data) override;
    void reset_function() override { reports_.clear(); }

private:
    std::vector<std::vector<uint8_t>> reports_;
    uint64_t presses_ = 0;
};

// A USB disk enclosure: a USB-to-SATA bridge (Bulk-Only Transport, SCSI
// transparent command set: class 8, subclass 6, protocol 0x50) in front of
// a SATA drive of the storage models, high speed, bus-powered (no remote
// wakeup). Bulk OUT 0x02 takes a CBW (31 bytes, "USBC"), then the data of a
// write; bulk IN 0x81 gives the data of a read, then the CSW (13 bytes,
// "USBS": tag, residue, status). The bridge translates the SCSI commands
// (SAT): TEST UNIT READY, REQUEST SENSE, INQUIRY, READ CAPACITY(10),
// MODE SENSE(6) (caching page: WCE), READ(10), WRITE(10) (FUA -> WRITE DMA
// FUA EXT), SYNCHRONIZE CACHE(10) (-> FLUSH CACHE EXT), START STOP UNIT. It
// works on its own thread: while a command runs, IN and OUT are NAKed.
// Losing VBUS powers the drive off (its write cache is lost); power comes
// back with the port's.
//
// Property `reports_write_cache` (default true): false is a bridge that
// hides the drive's write cache (MODE SENSE says WCE = 0 while the drive
// caches) - the reason for Linux's US_FL_WRITE_CACHE quirk.
class SataDrive;

class UsbMassStorage : public UsbDevice {
public:
    SC_HAS_PROCESS(UsbMassStorage);
    static constexpr uint8_t kBulkIn = 0x81, kBulkOut = 0x02;

    UsbMassStorage(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Identity id,
                   SataDrive& drive);

    SataDrive& drive() { return drive_; }
    UsbResult transfer(uint8_t ep, std::vector<uint8_t>& data, unsigned max_len) override;

protected:
    std::vector<uint8_t> configuration_descriptor() const override;
    UsbResult class_request(const SetupPacket& s, std::vector<uint8_t>& data) override;
    void reset_function() override;
    void power_lost() override;

private:
    enum class Stage { Command, DataOut, Busy, DataIn, Status };
    void worker();
    // Runs the CDB; fills data_ for a read; returns the CSW status (0 good, 1 failed).
    uint8_t execute();
    void sense(uint8_t key, uint8_t asc);

    SataDrive& drive_;
    Stage stage_ = Stage::Command;
    uint32_t tag_ = 0, length_ = 0, residue_ = 0;
    bool in_ = false;
    uint8_t cdb_[16] = {};
    uint8_t status_ = 0;
    std::vector<uint8_t> data_;
    size_t sent_ = 0;
    uint8_t sense_key_ = 0, asc_ = 0;
    sc_core::sc_event kick_;
};

}  // namespace quiesce
