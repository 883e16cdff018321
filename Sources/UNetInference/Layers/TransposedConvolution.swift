import UNetCheckpoint

/// A transposed convolution over 1, 2 or 3 spatial axes with PyTorch's `ConvTranspose1d/2d/3d`
/// arithmetic (dilation 1): per-axis kernel, stride, `padding` (cropped from both ends),
/// `outputPadding` (added at the end), groups, a bias and an optional activation fused. Output
/// size per axis: `(in − 1)·stride − 2·padding + kernel + outputPadding`.
///
/// Every input position times the weights is one GEMM per sample and group, whose columns are
/// split across threads; a scatter (col2im) then adds the products into the output. When the
/// kernel equals the stride without padding (the U-Nets' 2×2 up-convolution) the blocks do not
/// overlap and the scatter only places them.
///
/// Preconditions (mistakes of the calling code, which checks shapes when it loads the weights):
/// one entry per spatial axis in every per-axis array, positive kernel and stride, non-negative
/// padding, `groups` dividing both channel counts, `weight` holding
/// `inChannels × outChannels / groups × Π kernel` values, an input of `inChannels` channels and
/// as many spatial axes. A padding that crops everything gives an empty output, not a crash.
struct TransposedConvolution: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: [Int]
    let stride: [Int]
    let padding: [Int]
    let outputPadding: [Int]
    let groups: Int
    /// `[inChannels, outChannels / groups × Π kernel]` (IO[D]HW flattened).
    let weight: [Float]
    /// One per output channel, or empty.
    let bias: [Float]
    let activation: Activation?

    /// A general transposed convolution; an empty `stride` means the kernel, an empty padding 0.
    init(
        inChannels: Int, outChannels: Int, kernel: [Int], stride: [Int] = [], padding: [Int] = [],
        outputPadding: [Int] = [], groups: Int = 1, weight: [Float], bias: [Float], activation: Activation?
    ) {
        let axes = kernel.count
        let zeros = [Int](repeating: 0, count: axes)
        let stride = stride.isEmpty ? kernel : stride
        let padding = padding.isEmpty ? zeros : padding
        let outputPadding = outputPadding.isEmpty ? zeros : outputPadding
        precondition((1...3).contains(axes), "a transposed convolution has 1, 2 or 3 spatial axes")
        precondition([stride, padding, outputPadding].allSatisfy { $0.count == axes }, "one value per axis")
        precondition(
            kernel.allSatisfy { $0 >= 1 } && stride.allSatisfy { $0 >= 1 } && padding.allSatisfy { $0 >= 0 }
                && outputPadding.allSatisfy { $0 >= 0 }, "bad transposed convolution geometry")
        precondition(
            groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0, "groups must divide the channels")
        precondition(weight.count == inChannels * outChannels / groups * kernel.reduce(1, *), "the weight does not fit")
        precondition(bias.isEmpty || bias.count == outChannels, "one bias per output channel")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.groups = groups
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }

    /// A 2-D k×k transposed convolution with stride k (the schema-1 up-convolution).
    init(inChannels: Int, outChannels: Int, kernel: Int, weight: [Float], bias: [Float], activation: Activation?) {
        self.init(
            inChannels: inChannels, outChannels: outChannels, kernel: [kernel, kernel], weight: weight, bias: bias,
            activation: activation)
    }

    /// The output's spatial sizes for an input's (0 where the padding crops everything).
    func outputSpatial(_ input: [Int]) -> [Int] {
        input.indices.map { axis in
            max(0, (input[axis] - 1) * stride[axis] - 2 * padding[axis] + kernel[axis] + outputPadding[axis])
        }
    }

    func callAsFunction(_ input: FeatureMap, threads: Int) -> FeatureMap {
        precondition(input.channels == inChannels, "transposed convolution expects \(inChannels) channels")
        precondition(input.spatial.count == kernel.count, "transposed convolution expects \(kernel.count) axes")
        // The scatter below writes every output value (filling each plane with the bias first
        // unless the blocks tile it exactly).
        var output = FeatureMap(
            uninitialized: input.batch, channels: outChannels, spatial: outputSpatial(input.spatial))
        let pixels = input.plane
        guard output.sampleSize > 0, pixels > 0 else {
            return FeatureMap(batch: input.batch, channels: outChannels, spatial: output.spatial)
        }
        func three(_ values: [Int], _ fill: Int) -> [Int] { [Int](repeating: fill, count: 3 - values.count) + values }
        let k = three(kernel, 1), s = three(stride, 1), p = three(padding, 0)
        let inSize = input.spatial3, outSize = output.spatial3
        let kernelVolume = k[0] * k[1] * k[2]
        let (groupIn, groupOut) = (inChannels / groups, outChannels / groups)
        let rows = groupOut * kernelVolume
        let placing = k == s && p == [0, 0, 0] && outputPadding.allSatisfy { $0 == 0 }
        // Written whole by the products before the scatter reads it.
        var products = [Float](unsafeUninitializedCapacity: groups * rows * pixels) { _, count in
            count = groups * rows * pixels
        }
        // products[(o, kd, ky, kx), (z, y, x)] = Σ_c weight[c, (o, kd, ky, kx)] · input[c, (z, y, x)] for the
        // channels c of the group of o; columns split so each thread multiplies a part.
        let chunk = max(64, (pixels + threads - 1) / threads)
        let chunks = (pixels + chunk - 1) / chunk
        let outPlane = output.plane
        for sample in 0..<input.batch {
            input.values.withUnsafeBufferPointer { source in
                weight.withUnsafeBufferPointer { weights in
                    products.withUnsafeMutableBufferPointer { target in
                        let (source, weights, target) = (
                            source.baseAddress! + sample * input.sampleSize, weights.baseAddress!, target.baseAddress!
                        )
                        Parallel.forEach(groups * chunks, threads: threads) { index, _ in
                            let (group, part) = index.quotientAndRemainder(dividingBy: chunks)
                            let first = part * chunk
                            let columns = min(chunk, pixels - first)
                            BLAS.multiply(
                                transposeA: true, m: rows, n: columns, k: groupIn, weights + group * groupIn * rows,
                                lda: rows, source + group * groupIn * pixels + first, ldb: pixels,
                                into: target + group * rows * pixels + first, ldc: pixels)
                        }
                    }
                }
            }
            products.withUnsafeBufferPointer { productValues in
                output.values.withUnsafeMutableBufferPointer { target in
                    let (productValues, target) = (productValues.baseAddress!, target.baseAddress!)
                    Parallel.forEach(outChannels, threads: threads) { o, _ in
                        let b = bias.isEmpty ? 0 : bias[o]
                        let plane = target + (sample * outChannels + o) * outPlane
                        if !placing { plane.update(repeating: b, count: outPlane) }
                        for kz in 0..<k[0] {
                            for ky in 0..<k[1] {
                                for kx in 0..<k[2] {
                                    let position = (kz * k[1] + ky) * k[2] + kx
                                    let block = productValues + (o * kernelVolume + position) * pixels
                                    // Input x lands on x·s + kx − p; the inputs in first..<last land inside.
                                    let offset = kx - p[2]
                                    let first = min(inSize[2], max(0, Convolution.ceilDivide(-offset, s[2])))
                                    let last = max(
                                        first, min(inSize[2], Convolution.ceilDivide(outSize[2] - offset, s[2])))
                                    for z in 0..<inSize[0] {
                                        let oz = z * s[0] + kz - p[0]
                                        guard oz >= 0 && oz < outSize[0] else { continue }
                                        for y in 0..<inSize[1] {
                                            let oy = y * s[1] + ky - p[1]
                                            guard oy >= 0 && oy < outSize[1] else { continue }
                                            let line = plane + (oz * outSize[1] + oy) * outSize[2]
                                            let row = block + (z * inSize[1] + y) * inSize[2]
                                            if placing {
                                                for x in first..<last { line[x * s[2] + offset] = row[x] + b }
                                            } else {
                                                for x in first..<last { line[x * s[2] + offset] += row[x] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        activation?.apply(UnsafeMutableBufferPointer(start: plane, count: outPlane))
                    }
                }
            }
        }
        return output
    }
}
