import Foundation
import UNetCheckpoint

/// Number and size formatting for human output.
enum Format {
    /// `31,030,658`.
    static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var groups: [Substring] = []
        var end = digits.endIndex
        while end > digits.startIndex {
            let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
            groups.insert(digits[start..<end], at: 0)
            end = start
        }
        return (value < 0 ? "-" : "") + groups.joined(separator: ",")
    }

    /// `118.4 MiB`, `512 B`.
    static func bytes(_ value: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var size = Double(value)
        var unit = 0
        while size >= 1024, unit < units.count - 1 {
            size /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", size, units[unit])
    }

    /// `64×1×3×3`.
    static func shape(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }

    /// A short float: `0.0123`, `-1.5e-07`.
    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.4g", value)
    }
}

/// JSON output for `--json`: sorted keys, pretty-printed, stable.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try encoder.encode(value))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
