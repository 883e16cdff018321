import Foundation
import TestSupport
import Testing

@testable import UNetInference

/// One case of `fixtures/kernels/index.json`, written by `fixtures/generate_kernels.py`.
struct KernelCase: Decodable, Sendable, CustomTestStringConvertible {
    struct Parameters: Decodable, Sendable {
        let kernel: [Int]?
        let stride: [Int]?
        let dilation: [Int]?
        let groups: Int?
        let padBefore: [Int]?
        let padAfter: [Int]?
        let padding: [Int]?
        let outputPadding: [Int]?
        let outChannels: Int?
        let activation: String?
        let slope: Float?
        let alpha: Float?
        let ceilMode: Bool?
        let countIncludePad: Bool?
        let scale: [Int]?
        let mode: String?
        let alignCorners: Bool?
        let eps: Float?
        let kind: String?
        let target: [Int]?

        enum CodingKeys: String, CodingKey {
            case kernel, stride, dilation, groups, padding, activation, slope, alpha, scale, mode, eps, kind, target
            case padBefore = "pad_before", padAfter = "pad_after", outputPadding = "output_padding"
            case outChannels = "out_channels", ceilMode = "ceil_mode", countIncludePad = "count_include_pad"
            case alignCorners = "align_corners"
        }
    }

    let name: String
    let op: String
    let params: Parameters
    let inputs: [String]
    let tensors: [String: String]
    let output: String

    var testDescription: String { name }

    /// The cases of the index; throws (failing the test) when the index is missing or damaged.
    static func all() throws -> [KernelCase] {
        struct Index: Decodable { let cases: [KernelCase] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("kernels/index.json")))
        return try JSONDecoder().decode(Index.self, from: data).cases
    }

    func array(_ file: String) throws -> NumpyArray { try NumpyArray(contentsOf: Fixtures.path("kernels/\(file)")) }

    func map(_ file: String) throws -> FeatureMap {
        let array = try array(file)
        return FeatureMap(
            batch: array.shape[0], channels: array.shape[1], spatial: Array(array.shape[2...]), values: array.values)
    }

    /// A named parameter tensor, or empty when the case has none.
    func values(_ key: String) throws -> [Float] { try tensors[key].map { try array($0).values } ?? [] }
}

/// Every N-D layer kernel against torch's output for the same input (fixtures/kernels, computed
/// by torch in float64 and stored as float32), within 1e-5 of the output's range.
@Suite("Layer kernels against torch")
struct KernelTests {
    static let tolerance: Float = 1e-5

    @Test("the index of kernel fixtures exists and covers every op")
    func indexIsComplete() throws {
        let cases = try KernelCase.all()
        let ops = Set(cases.map(\.op))
        let expected: Set<String> = [
            "conv", "conv_transpose", "max_pool", "avg_pool", "interpolate", "batch_norm", "instance_norm",
            "group_norm", "activation", "prelu", "softmax", "centre_crop", "zero_pad", "replicate_pad_end", "concat",
            "add", "gate", "channel_mean", "channel_max", "global_avg_pool",
        ]
        #expect(ops == expected)
        #expect(cases.count >= 70)
    }

    @Test("each kernel reproduces torch within 1e-5 of the output's range", arguments: try KernelCase.all())
    func kernel(_ test: KernelCase) throws {
        try BLAS.require()
        let expected = try test.array(test.output)
        let output = try BLAS.singleThreaded { try Self.run(test) }
        #expect(output.shape == expected.shape, "\(test.name): shape")
        guard output.shape == expected.shape else { return }
        let range = (expected.values.max() ?? 0) - (expected.values.min() ?? 0)
        let scale = range > 0 ? range : max(expected.values.map(abs).max() ?? 0, .leastNormalMagnitude)
        var worst: Float = 0
        for (a, b) in zip(output.values, expected.values) { worst = max(worst, abs(a - b)) }
        #expect(worst <= Self.tolerance * scale, "\(test.name): largest difference \(worst / scale) of the range")
    }

    static func activation(_ name: String?, slope: Float?) -> Activation? {
        switch name {
        case "relu": return .relu
        case "leaky_relu": return .leakyReLU(slope ?? 0.01)
        default: return nil
        }
    }

    /// Runs the Swift kernel a case names on its inputs.
    static func run(_ test: KernelCase) throws -> FeatureMap {
        let p = test.params
        let inputs = try test.inputs.map { try test.map($0) }
        var x = inputs[0]
        switch test.op {
        case "conv":
            let conv = Convolution(
                inChannels: x.channels, outChannels: p.outChannels!, kernel: p.kernel!, stride: p.stride!,
                dilation: p.dilation!, padBefore: p.padBefore!, padAfter: p.padAfter!, groups: p.groups!,
                weight: try test.values("weight"), bias: try test.values("bias"),
                activation: activation(p.activation, slope: p.slope))
            #expect((conv.winograd != nil) == test.name.contains("winograd"))
            return conv(x, threads: 3)
        case "conv_transpose":
            let conv = TransposedConvolution(
                inChannels: x.channels, outChannels: p.outChannels!, kernel: p.kernel!, stride: p.stride!,
                padding: p.padding!, outputPadding: p.outputPadding!, groups: p.groups!,
                weight: try test.values("weight"), bias: try test.values("bias"),
                activation: activation(p.activation, slope: p.slope))
            return conv(x, threads: 3)
        case "max_pool":
            return Pooling.maxPool(x, kernel: p.kernel!, stride: p.stride!, padding: p.padding!, ceilMode: p.ceilMode!)
        case "avg_pool":
            return Pooling.averagePool(
                x, kernel: p.kernel!, stride: p.stride!, padding: p.padding!, ceilMode: p.ceilMode!,
                countIncludePad: p.countIncludePad!)
        case "interpolate":
            let mode: Interpolation.Mode = p.mode == "nearest" ? .nearest : .linear(alignCorners: p.alignCorners!)
            return Interpolation.upsample(x, scale: p.scale!, mode: mode)
        case "batch_norm":
            Normalization.batchNorm(
                &x, mean: try test.values("mean"), variance: try test.values("variance"),
                weight: try test.values("weight"), bias: try test.values("bias"), eps: p.eps!)
        case "instance_norm":
            Normalization.instanceNorm(
                &x, eps: p.eps!, weight: try test.values("weight"), bias: try test.values("bias"))
        case "group_norm":
            Normalization.groupNorm(
                &x, groups: p.groups!, eps: p.eps!, weight: try test.values("weight"), bias: try test.values("bias"))
        case "activation":
            let kinds: [String: Activation] = [
                "relu": .relu, "leaky_relu": .leakyReLU(p.slope ?? 0), "elu": .elu(p.alpha ?? 1), "gelu": .gelu,
                "gelu_tanh": .geluTanh, "silu": .silu, "sigmoid": .sigmoid, "tanh": .tanh, "relu6": .relu6,
            ]
            try #require(kinds[p.kind ?? ""]).apply(&x)
        case "prelu": Activations.prelu(&x, weight: try test.values("weight"))
        case "softmax": Activations.softmax(&x)
        case "centre_crop": return try Merging.centreCrop(x, to: p.target!)
        case "zero_pad": return try Merging.zeroPad(x, to: p.target!)
        case "replicate_pad_end": return try Merging.replicatePadEnd(x, to: p.target!)
        case "concat": return try Merging.concatenate(inputs)
        case "add": return try Merging.add(inputs[0], inputs[1])
        case "gate": return try Merging.multiply(inputs[0], gate: inputs[1])
        case "channel_mean": return Merging.channelMean(x)
        case "channel_max": return Merging.channelMax(x)
        case "global_avg_pool": return Merging.globalAveragePool(x)
        default: Issue.record("unknown op \(test.op) in \(test.name)")
        }
        return x
    }
}

/// The 2-D layers of the schema-1 networks agree with the general kernels, and shapes a file can
/// bring are refused or give empty maps instead of crashing.
@Suite("Layer kernels: 2-D paths and shapes")
struct KernelShapeTests {
    static func random(_ shape: [Int], seed: UInt64) -> FeatureMap {
        var state = seed
        let values = (0..<shape.reduce(1, *)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int(state >> 40) % 2001 - 1000) / 500
        }
        return FeatureMap(batch: shape[0], channels: shape[1], spatial: Array(shape[2...]), values: values)
    }

    @Test("×2 nearest, bilinear and 2×2 max-pool of the 2-D API equal the N-D kernels")
    func twoDimensionalWrappers() {
        let x = Self.random([2, 3, 7, 9], seed: 1)
        #expect(Resampling.nearest2(x) == Interpolation.upsample(x, scale: [2, 2], mode: .nearest))
        #expect(Resampling.maxPool2(x) == Pooling.maxPool(x, kernel: [2, 2]))
        for align in [false, true] {
            let old = Resampling.bilinear2(x, alignCorners: align)
            let new = Interpolation.upsample(x, scale: [2, 2], mode: .linear(alignCorners: align))
            #expect(old.shape == new.shape)
            #expect(zip(old.values, new.values).allSatisfy { abs($0 - $1) <= 1e-6 })
        }
    }

    @Test("Winograd and the im2col path agree on the same 3×3 convolution")
    func winogradAgreesWithUnfolding() throws {
        try BLAS.require()
        let x = Self.random([1, 8, 11, 13], seed: 2)
        let weight = Self.random([1, 4 * 8 * 9, 1], seed: 3).values.map { $0 * 0.2 }
        let fast = Convolution(
            inChannels: 8, outChannels: 4, kernel: 3, padTop: 1, padBottom: 0, padLeft: 0, padRight: 1,
            weight: weight, bias: [0.1, 0.2, 0.3, 0.4], activation: .relu)
        // The same layer through the general initialiser with a stride of 1 written as dilation
        // 1 on a 3-D map of depth 1: no Winograd.
        let slow = Convolution(
            inChannels: 8, outChannels: 4, kernel: [1, 3, 3], padBefore: [0, 1, 0], padAfter: [0, 0, 1],
            weight: weight, bias: [0.1, 0.2, 0.3, 0.4], activation: .relu)
        #expect(fast.winograd != nil && slow.winograd == nil)
        let (a, b) = BLAS.singleThreaded {
            (
                fast(x, threads: 2),
                slow(FeatureMap(batch: 1, channels: 8, spatial: [1, 11, 13], values: x.values), threads: 2)
            )
        }
        #expect(a.shape == [1, 4, 10, 12] && b.shape == [1, 4, 1, 10, 12])
        #expect(zip(a.values, b.values).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test("Winograd on a 3×3×3 kernel equals the direct sum, padding in depth included")
    func winogradInThreeDimensions() throws {
        try BLAS.require()
        let (inChannels, outChannels, size) = (8, 4, [5, 13, 10])
        let x = Self.random([1, inChannels] + size, seed: 5)
        let weight = Self.random([1, outChannels * inChannels * 27, 1], seed: 6).values.map { $0 * 0.1 }
        let bias: [Float] = [0.1, -0.2, 0.3, -0.4]
        let conv = Convolution(
            inChannels: inChannels, outChannels: outChannels, kernel: [3, 3, 3], padBefore: [1, 1, 0],
            padAfter: [1, 0, 1], weight: weight, bias: bias, activation: .leakyReLU(0.1))
        #expect(conv.winograd != nil)
        let y = BLAS.singleThreaded { conv(x, threads: 2) }
        let out = [5, 12, 9]  // 3 × 3 tiles a plane: enough for Winograd
        #expect(y.shape == [1, outChannels] + out)
        var (largest, low, high): (Float, Float, Float) = (0, .infinity, -.infinity)
        for o in 0..<outChannels {
            for z in 0..<out[0] {
                for row in 0..<out[1] {
                    for column in 0..<out[2] {
                        var sum = Double(bias[o])
                        for c in 0..<inChannels {
                            for kz in 0..<3 {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let (sz, sy, sx) = (z + kz - 1, row + ky - 1, column + kx)
                                        guard (0..<size[0]).contains(sz), (0..<size[1]).contains(sy),
                                            (0..<size[2]).contains(sx)
                                        else { continue }
                                        let w = weight[(((o * inChannels + c) * 3 + kz) * 3 + ky) * 3 + kx]
                                        let v = x.values[((c * size[0] + sz) * size[1] + sy) * size[2] + sx]
                                        sum += Double(w) * Double(v)
                                    }
                                }
                            }
                        }
                        let expected = Float(sum < 0 ? sum * 0.1 : sum)
                        let got = y.values[((o * out[0] + z) * out[1] + row) * out[2] + column]
                        largest = max(largest, abs(got - expected))
                        (low, high) = (min(low, expected), max(high, expected))
                    }
                }
            }
        }
        // F(4×4, 3×3) rounds to about 5e-6 of the output's range (the kernel tests' bound is 1e-5).
        #expect(largest <= 1e-5 * (high - low))
    }

    @Test("an input smaller than the kernel gives an empty map, not a crash")
    func emptyOutputs() throws {
        try BLAS.require()
        let x = Self.random([1, 2, 2, 3, 2], seed: 4)
        let conv = Convolution(
            inChannels: 2, outChannels: 1, kernel: [3, 3, 3], weight: [Float](repeating: 1, count: 54), bias: [],
            activation: nil)
        #expect(BLAS.singleThreaded { conv(x, threads: 2) }.shape == [1, 1, 0, 1, 0])
        #expect(Pooling.maxPool(x, kernel: [3, 3, 3]).shape == [1, 2, 0, 1, 0])
    }

    @Test("merges of maps that do not fit throw, naming the shapes")
    func mismatchedMerges() {
        let a = Self.random([1, 2, 4, 5], seed: 5)
        let b = Self.random([1, 3, 4, 6], seed: 6)
        #expect(throws: InferenceError.self) { try Merging.concatenate([a, b]) }
        #expect(throws: InferenceError.self) { try Merging.add(a, b) }
        #expect(throws: InferenceError.self) { try Merging.multiply(a, gate: b) }
        #expect(throws: InferenceError.self) { try Merging.centreCrop(a, to: [5, 5]) }
        #expect(throws: InferenceError.self) { try Merging.zeroPad(a, to: [3, 5]) }
        #expect(throws: InferenceError.self) { try Merging.replicatePadEnd(a, to: [4, 5, 6]) }
        #expect(throws: InferenceError.self) { try Merging.concatenate([]) }
    }

    @Test("the 2-D FeatureMap API is the N-D map with two spatial axes")
    func featureMapCompatibility() {
        let map = FeatureMap(batch: 2, channels: 3, height: 4, width: 5)
        #expect(map.spatial == [4, 5] && map.shape == [2, 3, 4, 5] && map.plane == 20 && map.sampleSize == 60)
        let volume = FeatureMap(batch: 1, channels: 2, spatial: [3, 4, 5])
        #expect(volume.height == 4 && volume.width == 5 && volume.plane == 60 && volume.shape == [1, 2, 3, 4, 5])
        let line = FeatureMap(batch: 1, channels: 1, spatial: [7], values: [Float](repeating: 1, count: 7))
        #expect(line.height == 1 && line.width == 7)
    }
}
