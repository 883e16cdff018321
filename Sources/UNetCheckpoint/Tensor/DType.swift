/// The element types a checkpoint stores.
public enum DType: String, Codable, Sendable, CaseIterable {
    case float32, float16, bfloat16

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }

    /// The short names the command line accepts: `f32`, `f16`, `bf16`, or the full names.
    public init?(shortName: String) {
        switch shortName.lowercased() {
        case "f32", "float32", "fp32": self = .float32
        case "f16", "float16", "fp16", "half": self = .float16
        case "bf16", "bfloat16": self = .bfloat16
        default: return nil
        }
    }
}

/// Conversions between float32 and the 16-bit formats, rounding to nearest even.
enum FloatConversion {
    @inline(__always)
    static func float32(fromHalf bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    @inline(__always)
    static func half(from value: Float) -> UInt16 { Float16(value).bitPattern }

    @inline(__always)
    static func float32(fromBFloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// The upper half of the float32 bits, rounded to nearest even; NaN stays a (quiet) NaN.
    @inline(__always)
    static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}
