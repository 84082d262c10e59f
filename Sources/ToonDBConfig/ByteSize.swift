/// Byte sizes as written in configuration files: an integer number of bytes, or a string of
/// a number and a unit (`"64MiB"`, `"4 KiB"`, `"1.5GiB"`, `"100MB"`, `"512B"`).
///
/// Binary units (KiB, MiB, GiB, TiB) are powers of 1024, decimal units (KB, MB, GB, TB) powers
/// of 1000; units are case-insensitive. A fractional number is rounded down to whole bytes.
public enum ByteSize {
    /// The units accepted, with their multipliers (lower-cased).
    static let units: [(name: String, multiplier: Int64)] = [
        ("b", 1),
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40),
        ("kb", 1_000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
    ]

    /// The number of bytes `text` denotes, or nil when it is not a size (or overflows Int64).
    public static func parse(_ text: String) -> Int64? {
        let trimmed = text.trimmingASCIISpaces()
        guard !trimmed.isEmpty else { return nil }
        // Split into the number (digits, optionally one '.' and more digits, '_' separators)
        // and the unit.
        var number = ""
        var rest = Substring(trimmed)
        while let c = rest.first, c.isASCII, c.isNumber || c == "." || c == "_" {
            number.append(c)
            rest = rest.dropFirst()
        }
        let unit = String(rest).trimmingASCIISpaces().lowercased()
        number.removeAll { $0 == "_" }
        guard !number.isEmpty, number.first != ".", number.last != "." else { return nil }
        let multiplier: Int64
        if unit.isEmpty {
            multiplier = 1
        } else if let match = units.first(where: { $0.name == unit }) {
            multiplier = match.multiplier
        } else {
            return nil
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]) else { return nil }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        guard parts.count == 2 else { return scaled }
        // The fraction, to whole bytes: fraction digits / 10^digits * multiplier, rounded down.
        let digits = parts[1].prefix(18)
        guard let fraction = Int64(digits) else { return nil }
        var denominator: Int64 = 1
        for _ in 0..<digits.count { denominator *= 10 }
        let fractionBytes = Int64((Double(fraction) / Double(denominator) * Double(multiplier)).rounded(.down))
        let (total, overflow2) = scaled.addingReportingOverflow(fractionBytes)
        return overflow2 ? nil : total
    }

    /// A readable form of `bytes`: the largest binary unit that divides it exactly
    /// (`64 MiB`), else plain bytes (`1000 B`).
    public static func format(_ bytes: Int64) -> String {
        for (name, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] as [(String, Int64)] {
            let unit: Int64 = 1 << shift
            if bytes != 0 && bytes % unit == 0 { return "\(bytes / unit) \(name)" }
        }
        return "\(bytes) B"
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
