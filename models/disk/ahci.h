// An AHCI 1.3 host bus adapter with one port and a SATA drive on it: the
// bus-agnostic core. The driver builds command headers, command tables (a
// host-to-device register FIS and PRD entries) in RAM and sets PxCI; the HBA
// fetches them by DMA, runs the command on the drive, moves the data through
// the PRDs in bursts, writes the device-to-host FIS into the received-FIS
// area, clears the PxCI bit and interrupts. The link layer: PxSCTL.DET = 1
// sends COMRESET (the link goes down, the drive is reset, the command in
// flight is abandoned), DET = 0 lets the OOB handshake and speed negotiation
// bring the link up in the SATA clock domain (PxSSTS.DET 0 -> 1 -> 3), and the
// drive's signature FIS sets PxSIG and PxTFD (docs/models.md). An HBA reset
// (GHC.HR, power-on) takes the registers to their reset values and, with no
// staggered spin-up, sends COMRESET itself: the link comes back through the
// same handshake. GHC.HR takes `hr_cycles` and clears itself when done. The
// link's changes set PxSERR.DIAG (X, N, W), which PxIS.PCS and PxIS.PRCS
// mirror, raising the interrupt when PxIE enables them. State classes:
//   hardware  GHC, PxIE, PxCMD, PxSCTL   (configuration only the HBA holds)
//   driver    PxCLB/PxCLBU, PxFB/PxFBU   (point into RAM: re-derived on resume)
//   volatile  IS, PxIS, PxCI, PxTFD, PxSERR, PxSACT
#pragma once

#include "models/disk/sata_drive.h"
#include "sim/core/dma_port.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <functional>

namespace quiesce {

class Ahci : public MmioDevice {
public:
    SC_HAS_PROCESS(Ahci);

    // Global registers.
    static constexpr uint32_t CAP = 0x00, GHC = 0x04, IS = 0x08, PI = 0x0c, VS = 0x10;
    static constexpr uint32_t GHC_HR = 1u << 0, GHC_IE = 1u << 1, GHC_AE = 1u << 31;
    // Port 0 registers.
    static constexpr uint32_t P0 = 0x100;
    static constexpr uint32_t PxCLB = P0 + 0x00, PxCLBU = P0 + 0x04, PxFB = P0 + 0x08, PxFBU = P0 + 0x0c,
                              PxIS = P0 + 0x10, PxIE = P0 + 0x14, PxCMD = P0 + 0x18, PxTFD = P0 + 0x20,
                              PxSIG = P0 + 0x24, PxSSTS = P0 + 0x28, PxSCTL = P0 + 0x2c, PxSERR = P0 + 0x30,
                              PxSACT = P0 + 0x34, PxCI = P0 + 0x38;
    static constexpr uint32_t CMD_ST = 1u << 0, CMD_SUD = 1u << 1, CMD_POD = 1u << 2, CMD_FRE = 1u << 4,
                              CMD_FR = 1u << 14, CMD_CR = 1u << 15, CMD_CCS_SHIFT = 8, CMD_CCS = 0x1fu << 8;
    // PxIS: DHRS, PCS (port connect change: PxSERR.DIAG.X), PRCS (PhyRdy change: DIAG.N), TFES.
    static constexpr uint32_t PIS_DHRS = 1u << 0, PIS_PCS = 1u << 6, PIS_PRCS = 1u << 22, PIS_TFES = 1u << 30;
    // PxSERR.DIAG: N (PhyRdy change), W (COMWAKE detected), X (exchanged: COMINIT received).
    static constexpr uint32_t SERR_DIAG_N = 1u << 16, SERR_DIAG_W = 1u << 18, SERR_DIAG_X = 1u << 26;
    static constexpr uint32_t TFD_BSY = 0x80, TFD_DRQ = 0x08;
    static constexpr uint32_t SSTS_UP = 0x113;  // DET 3, SPD 1 (Gen1), IPM 1 (active)
    static constexpr uint32_t SIG_ATA = 0x101;
    static constexpr uint32_t TFD_RESET = 0x7f, SIG_RESET = 0xffffffff;  // AHCI 1.3 3.3.8, 3.3.9
    static constexpr uint64_t kSataHz = 1'500'000'000;  // the OOB unit interval: 666.67 ps (Gen1)
    static constexpr unsigned kSlots = 8;
    static constexpr uint64_t kD2hFisOffset = 0x40;  // in the received-FIS area

    using Port = DmaPort;  // how the core reaches memory: provided by the bus glue

    Ahci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, SataDrive& drive,
         Port port);
    // The register bank, with named fields (driver files use them).
    static std::vector<RegSpec> register_specs();

    IrqLine irq{"irq"};
    SataDrive& drive() { return drive_; }
    const ClockDomain& sata_clock() const { return sata_; }
    // The port can send a command FIS: the link is up (PxSSTS.DET 3) and the
    // device is neither busy nor asking for data (PxTFD BSY, DRQ clear).
    bool link_ready() const;
    // Power-on reset (power-on, D3hot->D0 without No_Soft_Reset): every
    // register to its reset value at once, then the HBA's own COMRESET.
    void reset();

private:
    void engine();
    bool dma(uint64_t addr, void* buf, unsigned len, bool write) { return port_.transfer(addr, buf, len, write); }
    void run_slot(unsigned slot, uint64_t generation);
    void complete(unsigned slot, bool ok, uint8_t status);
    void update_irq();
    void on_cmd_write(Register& r, uint64_t old);
    void stopper();               // CR and FR clearing after ST and FRE, in a process of its own
    void on_ghc_write(Register& r, uint64_t old);
    void resetter();              // GHC.HR: the reset's time, then the reset, in a process of its own
    void on_sctl_write(uint64_t old, uint64_t now);
    void comreset();              // DET 1: COMRESET asserted
    void release();               // DET 0 (or the HBA's own COMRESET ended): the handshake starts
    void link_up(uint64_t link);  // the handshake, in a process of its own
    // PxSERR bits set by the HBA; PxIS.PCS and PRCS follow DIAG.X and DIAG.N.
    void set_serr(uint32_t bits);
    void mirror_serr();
    uint64_t clb() const;
    uint64_t fb() const;

    SataDrive& drive_;
    Port port_;
    sc_core::sc_event kick_;
    sc_core::sc_event stop_kick_;  // ST or FRE cleared: the stopper has work
    sc_core::sc_event idle_;       // the engine finished (or abandoned) the command it ran
    sc_core::sc_event hr_kick_;    // GHC.HR set: the resetter has work
    uint64_t generation_ = 0;
    ClockDomain sata_{"sata", kSataHz};
    uint64_t link_gen_ = 0;    // COMRESETs so far: a handshake a later one overtook stops
    unsigned running_ = 0;     // the slot the engine runs, + 1 (0: none)
    uint32_t abandoned_ = 0;   // slots a COMRESET abandoned: never run again until PxCI clears them
    unsigned ccs_ = 0;         // PxCMD.CCS: the slot the engine issued last (valid while ST is set)
    bool fatal_ = false;       // ERR:Fatal after a task-file error: no command until ST goes 0 then 1
};

}  // namespace quiesce
