// Simulated time: clock domains, cycles to picoseconds and back, and how times are printed.
#include "sim/core/time.h"

#include "sim/core/errors.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

namespace quiesce {

namespace {
constexpr unsigned __int128 kPsPerSecond = 1'000'000'000'000ULL;

// `text` quoted for a message; a long one cut (a 5,000-digit number is not
// worth echoing).
std::string quoted(const std::string& text) {
    if (text.size() <= 40) return "'" + text + "'";
    return "'" + text.substr(0, 24) + "...' (" + std::to_string(text.size()) + " characters)";
}

// Splits "12.5us" into 12.5 and "us"; rejects anything else.
void split_number_unit(const std::string& text, long double& number, std::string& unit) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.' ||
                               text[i] == '_'))
        ++i;
    std::string digits;
    for (size_t k = 0; k < i; ++k)
        if (text[k] != '_') digits += text[k];
    if (digits.empty() || digits == ".") throw std::invalid_argument(quoted(text) + " does not start with a number");
    // "1e300s" read as 1 and the unit "e300s": say what is wrong with it.
    if (i + 1 < text.size() && (text[i] == 'e' || text[i] == 'E') &&
        (std::isdigit(static_cast<unsigned char>(text[i + 1])) || text[i + 1] == '+' || text[i + 1] == '-'))
        throw std::invalid_argument(quoted(text) + " has an exponent: write the number in digits, then its unit");
    size_t used = 0;
    try {
        number = std::stold(digits, &used);
    } catch (const std::invalid_argument&) {  // no number at its start ("..5"): the library says only "stold"
        throw std::invalid_argument(quoted(text) + " is not a number");
    } catch (const std::out_of_range&) {
        // Beyond what a long double holds: out of range when it is huge (the
        // caller says so, with its limit); a fraction too small is none.
        if (digits.substr(0, digits.find('.')).find_first_not_of('0') == std::string::npos)
            throw std::invalid_argument(quoted(text) + " is not a whole number of the base unit");
        number = HUGE_VALL;
        used = digits.size();
    }
    if (used != digits.size()) throw std::invalid_argument(quoted(text) + " is not a number");
    unit = text.substr(i);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
}

// number * scale as a whole number of the base unit; `most` says the
// largest value accepted (an out-of-range message names it).
uint64_t scaled(long double number, long double scale, const std::string& text, const char* most = nullptr) {
    long double v = number * scale;
    if (v < 0 || v > 1.8e19L)
        throw std::invalid_argument(quoted(text) + " is out of range" + (most ? std::string(": ") + most : ""));
    long double r = std::round(v);
    if (std::fabs(v - r) > 1e-6L * std::max<long double>(1, v))
        throw std::invalid_argument(quoted(text) + " is not a whole number of the base unit");
    return static_cast<uint64_t>(r);
}
}  // namespace

ClockDomain::ClockDomain(std::string name, uint64_t hz) : name_(std::move(name)), hz_(hz) {
    SIM_ASSERT(hz_ > 0 && hz_ <= kMaxClockHz, "clock domain {} has bad frequency {}", name_, hz_);
    if (uint64_t(kPsPerSecond) % hz_ == 0) {
        period_ = uint64_t(kPsPerSecond) / hz_;
        reciprocal_ = ~uint64_t(0) / period_;
    }
}

// With an exact period every result equals the general formula's (the
// header's edge_ps and ceil_cycles take it inline; those below without
// one): c * 1e12 / hz is c * period exactly (both taken modulo 2^64, as the
// cast of the 128-bit product did), and the floor and ceiling of
// t * hz / 1e12 are those of t / period.
Picos ClockDomain::edge_ps_general(Cycles c) const {
    return static_cast<Picos>(static_cast<unsigned __int128>(c.n) * kPsPerSecond / hz_);
}

Cycles ClockDomain::cycles_at_general(Picos t) const {
    // floor(t * hz / 1e12), then correct for the floor in edge_ps.
    uint64_t c = static_cast<uint64_t>(static_cast<unsigned __int128>(t) * hz_ / kPsPerSecond);
    while (edge_ps(Cycles(c + 1)) <= t) ++c;
    while (c > 0 && edge_ps(Cycles(c)) > t) --c;
    return Cycles(c);
}

Cycles ClockDomain::ceil_cycles_general(Picos t) const {
    Cycles c = cycles_at(t);
    return edge_ps(c) == t ? c : Cycles(c.n + 1);
}

Cycles ClockDomain::cycles_in(Picos duration) const {
    if (period_) return ceil_cycles(duration);
    unsigned __int128 num = static_cast<unsigned __int128>(duration) * hz_;
    return Cycles(static_cast<uint64_t>((num + kPsPerSecond - 1) / kPsPerSecond));
}

namespace {
// No unit, or one not among `units`: which of the two, and the units there are.
std::invalid_argument unit_error(const std::string& text, const std::string& unit, const char* units) {
    if (unit.empty()) return std::invalid_argument(quoted(text) + " needs a unit: " + units);
    return std::invalid_argument(quoted(text) + ": unknown unit " + quoted(unit) + " (" + units + ")");
}
}  // namespace

Picos parse_duration(const std::string& text) {
    long double number;
    std::string unit;
    split_number_unit(text, number, unit);
    long double scale;
    if (unit == "ps") scale = 1;
    else if (unit == "ns") scale = 1e3L;
    else if (unit == "us") scale = 1e6L;
    else if (unit == "ms") scale = 1e9L;
    else if (unit == "s") scale = 1e12L;
    else throw unit_error(text, unit, "ps, ns, us, ms or s");
    // Picoseconds in 64 bits: 1.8e19 ps.
    return scaled(number, scale, text, "a duration is at most 18000000s (about 208 days)");
}

uint64_t parse_size(const std::string& text) {
    long double number;
    std::string unit;
    split_number_unit(text, number, unit);
    long double scale;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "KiB") scale = 1024.0L;
    else if (unit == "MiB") scale = 1024.0L * 1024;
    else if (unit == "GiB") scale = 1024.0L * 1024 * 1024;
    else throw unit_error(text, unit, "B, KiB, MiB or GiB");
    return scaled(number, scale, text);
}

uint64_t parse_hz(const std::string& text) {
    long double number;
    std::string unit;
    split_number_unit(text, number, unit);
    long double scale;
    if (unit == "Hz") scale = 1;
    else if (unit == "kHz") scale = 1e3L;
    else if (unit == "MHz") scale = 1e6L;
    else if (unit == "GHz") scale = 1e9L;
    else throw unit_error(text, unit, "Hz, kHz, MHz or GHz");
    uint64_t hz = scaled(number, scale, text);
    if (hz == 0) throw std::invalid_argument(quoted(text) + " must be above 0 Hz");
    return hz;
}

std::string format_ps(Picos p) {
    struct U { Picos div; const char* name; };
    static const U units[] = {{1'000'000'000'000ULL, "s"}, {1'000'000'000ULL, "ms"},
                              {1'000'000ULL, "us"}, {1'000ULL, "ns"}};
    for (const U& u : units) {
        if (p >= u.div) {
            std::string s = std::to_string(p / u.div);
            Picos frac = p % u.div;
            if (frac) {  // at most three decimals: a display format
                std::string f = std::to_string(frac);
                f = std::string(std::to_string(u.div).size() - 1 - f.size(), '0') + f;
                f = f.substr(0, 3);
                while (!f.empty() && f.back() == '0') f.pop_back();
                if (!f.empty()) s += "." + f;
            }
            return s + u.name;
        }
    }
    return std::to_string(p) + "ps";
}

}  // namespace quiesce
