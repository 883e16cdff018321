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

    @Test("float16 conversion is IEEE round to nearest even")
    func halfRounding() {
        #expect(FloatConversion.half(from: 1) == 0x3C00)
        #expect(FloatConversion.half(from: 65520) == 0x7C00)  // rounds past the largest half: infinity
        #expect(FloatConversion.half(from: 1 + 0x1p-11) == 0x3C00)  // halfway: to even
        #expect(FloatConversion.float32(fromHalf: 0x3555) == Float(Float16(bitPattern: 0x3555)))
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
