import Foundation
import TestSupport
import Testing

@testable import UNetCheckpoint

@Suite("Element types")
struct DTypeTests {
    @Test("bfloat16 rounds to nearest even and keeps NaN and infinities")
    func bfloat16Rounding() {
        // 1 + 2^-8 lies exactly halfway between two bfloat16 values: ties go to the even one (1.0).
        #expect(FloatConversion.bfloat16(from: 1 + 0x1p-8) == 0x3F80)
        // Just above halfway rounds up.
        #expect(FloatConversion.bfloat16(from: Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        // Halfway with an odd lower neighbour rounds up to even.
        #expect(FloatConversion.bfloat16(from: Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(FloatConversion.bfloat16(from: .infinity) == 0x7F80)
        #expect(FloatConversion.bfloat16(from: -.infinity) == 0xFF80)
        #expect(FloatConversion.float32(fromBFloat16: FloatConversion.bfloat16(from: .nan)).isNaN)
        // The largest float rounds to infinity, as in PyTorch.
        #expect(FloatConversion.bfloat16(from: .greatestFiniteMagnitude) == 0x7F80)
    }

    @Test("float16 rounding gives numpy's bits: ties to even, subnormals, overflow to infinity")
    func halfRounding() throws {
        // IEEE facts, each with the bits numpy's astype(np.float16) gives.
        let facts: [(Float, UInt16)] = [
            (1, 0x3C00), (-0.0, 0x8000), (1.0 / 3, 0x3555), (0.1, 0x2E66),
            (65504, 0x7BFF), (65519.996, 0x7BFF), (65520, 0x7C00), (-65520, 0xFC00),  // the largest half, overflow
            (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (0x1p-24, 0x0001), (1023 * 0x1p-24, 0x03FF), (0x1p-14, 0x0400),  // subnormals, the smallest normal
            (0x1p-25, 0x0000), (3 * 0x1p-25, 0x0002), (5 * 0x1p-25, 0x0002),  // subnormal ties: to even
            (1 + 0x1p-11, 0x3C00), (1 + 3 * 0x1p-11, 0x3C02), (2049, 0x6800), (2051, 0x6802),  // normal ties
        ]
        for (value, bits) in facts {
            #expect(FloatConversion.half(from: value) == bits, "\(value)")
        }
        let nan = FloatConversion.half(from: .nan)
        #expect(nan & 0x7C00 == 0x7C00 && nan & 0x03FF != 0)
        // 5160 float32 values and the float16 numpy made of each (fixtures/generate_dtypes.py).
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dtypes/float16-numpy.bin")))
        #expect(data.count == 5160 * 6)
        let bytes = [UInt8](data)
        var mismatches: [String] = []
        for offset in stride(from: 0, to: bytes.count - 5, by: 6) {
            let input = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
            let expected = UInt16(bytes[offset + 4]) | UInt16(bytes[offset + 5]) << 8
            let value = Float(bitPattern: input)
            let actual = FloatConversion.half(from: value)
            let bothNaN = value.isNaN && actual & 0x7C00 == 0x7C00 && actual & 0x03FF != 0
            if actual != expected && !bothNaN {
                mismatches.append(
                    "\(value) (0x\(String(input, radix: 16))): 0x\(String(actual, radix: 16)), numpy 0x\(String(expected, radix: 16))"
                )
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test("every float16 bit pattern widens to the value IEEE 754 defines, and back to itself")
    func halfWidening() {
        var mismatches: [UInt16] = []
        for bits in UInt16.min...UInt16.max {
            let sign: Float = bits & 0x8000 != 0 ? -1 : 1
            let exponent = Int(bits >> 10 & 0x1F)
            let fraction = Float(bits & 0x3FF)
            let expected: Float =
                switch exponent {
                case 0: sign * fraction * 0x1p-24  // subnormal (and ±0)
                case 31: fraction == 0 ? sign * .infinity : .nan
                default: sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
                }
            let actual = FloatConversion.float32(fromHalf: bits)
            let same = expected.isNaN ? actual.isNaN : actual.bitPattern == expected.bitPattern
            if !same || (!expected.isNaN && FloatConversion.half(from: actual) != bits) { mismatches.append(bits) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).map { String($0, radix: 16) })")
    }

    @Test("conversion round-trips exactly through the wider type")
    func roundTrip() {
        let values: [Float] = [0, -0.0, 1.5, -2.25, 3.140625, 1e-3, 65504]
        let tensor = Tensor(shape: [values.count], values: values)
        for dtype in [DType.float16, .bfloat16] {
            let narrow = tensor.converted(to: dtype)
            #expect(narrow.dtype == dtype)
            #expect(narrow.converted(to: .float32).converted(to: dtype) == narrow)
        }
        #expect(DType(shortName: "bf16") == .bfloat16)
        #expect(DType(shortName: "F16") == .float16)
        #expect(DType(shortName: "f64") == nil)
    }

    @Test("statistics count NaN and infinities apart from the finite values")
    func statistics() {
        let stats = TensorStatistics(Tensor(shape: [6], values: [1, 2, 3, .nan, .infinity, -.infinity]))
        #expect(stats.min == 1 && stats.max == 3 && stats.mean == 2)
        #expect(abs(stats.std! - (2.0 / 3.0).squareRoot()) < 1e-12)
        #expect(stats.nanCount == 1 && stats.infinityCount == 2)
    }
}
