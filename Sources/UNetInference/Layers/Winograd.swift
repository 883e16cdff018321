import CUNetKernels
import UNetCheckpoint

/// A 3×3 (or 3×3×3), stride-1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin and
/// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): every 4×4 output tile is
/// computed from a 6×6 input tile with 36 multiplications per channel pair instead of 144. In the
/// transformed domain the convolution is 36 independent matrix products, `M[ξ] = U[ξ] · V[ξ]`,
/// which run on OpenBLAS over blocks of tiles small enough to stay in cache, one block per thread
/// at a time; the transforms are C (CUNetKernels), compiled for AVX-512, AVX2 and baseline x86-64
/// and chosen for the CPU at run time.
///
/// A 3×3×3 kernel is three 3×3 kernels, one per input plane in depth: the transformed input of
/// the three planes an output plane reads is stacked along the products' inner dimension (`K =
/// 3 × inChannels`), so depth costs no more transforms of the weights and no extra pass.
struct WinogradKernel: Sendable {
    let inChannels: Int
    let outChannels: Int
    /// The kernel's depth: 1 for a 2-D 3×3 kernel, 3 for 3×3×3.
    let depth: Int
    /// `G g Gᵀ` for every (out, in, depth) triple, stored as 36 row-major matrices
    /// `[outChannels, depth × inChannels]` (column `kz × inChannels + c`), one per position ξ.
    let transformed: [Float]

    /// The inner dimension of the products when every plane in depth is inside the input.
    var rowLength: Int { depth * inChannels }

    /// Transforms OI[D]HW 3×3 or 3×3×3 weights.
    init(weight: [Float], outChannels: Int, inChannels: Int, depth: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.depth = depth
        let row = depth * inChannels
        let transformed = [Float](unsafeUninitializedCapacity: 36 * outChannels * row) { u, initialized in
            weight.withUnsafeBufferPointer { w in
                let (w, u) = (w.baseAddress!, u.baseAddress!)
                // Output channels in chunks across the cores (a checkpoint's weights are hundreds of MB here).
                let chunk = 16
                Parallel.forEach((outChannels + chunk - 1) / chunk, threads: Parallel.cores) { part, _ in
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 27 * row)
                    defer { scratch.deallocate() }
                    unet_winograd4_weights(
                        w, outChannels, inChannels, depth, part * chunk, min(outChannels, part * chunk + chunk), u,
                        scratch)
                }
            }
            initialized = 36 * outChannels * row
        }
        self.transformed = transformed
    }

    /// The geometry of one call: the input's sizes and padding before, the output's sizes (depth 1
    /// and no depth padding for a 2-D map).
    struct Geometry {
        let height: Int, width: Int
        let padTop: Int, padLeft: Int
        let outHeight: Int, outWidth: Int
        var inDepth = 1, padFront = 0, outDepth = 1
        var tilesX: Int { (outWidth + 3) / 4 }
        var tileCount: Int { ((outHeight + 3) / 4) * tilesX }
    }

    /// Whether the plane has enough tiles for the products to pay (below, they are too thin and
    /// the im2col GEMM is faster).
    static func pays(_ geometry: Geometry) -> Bool { geometry.tileCount >= 9 }

    /// Tiles per block: the transformed input and products of a block take about 4 MiB, a block
    /// has at least 32 tiles, and there are blocks enough for every thread.
    func tilesPerBlock(_ geometry: Geometry, threads: Int) -> Int {
        let fitting = max(32, (1 << 20) / (36 * (rowLength + outChannels)))
        let perPlane = max(1, threads / max(1, geometry.outDepth))
        let balanced = (geometry.tileCount + perPlane - 1) / perPlane
        return max(1, min(fitting, balanced))
    }

    /// Convolves one sample: `input` is `[inChannels, (inDepth,) height, width]`, `output`
    /// `[outChannels, (outDepth,) outHeight, outWidth]`; `bias` (one per output channel) and a
    /// ReLU or LeakyReLU are applied on the way out (any other activation afterwards).
    func convolve(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, geometry g: Geometry, bias: [Float],
        activation: Activation?, threads: Int
    ) {
        let blockTiles = tilesPerBlock(g, threads: threads)
        let blocksPerPlane = (g.tileCount + blockTiles - 1) / blockTiles
        let blocks = blocksPerPlane * g.outDepth
        let workers = max(1, min(threads, blocks))
        let kernelScratch = unet_winograd4_scratch(blockTiles)
        let scratchSize = 36 * (rowLength + outChannels) * blockTiles + kernelScratch
        var scratch = [Float](repeating: 0, count: workers * scratchSize)
        let (activate, slope): (Int32, Float) =
            switch activation {
            case .relu: (1, 0)
            case .leakyReLU(let slope): (1, slope)
            default: (0, 1)
            }
        let (inPlane, outPlane) = (g.height * g.width, g.outHeight * g.outWidth)
        let matrix = outChannels * rowLength
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            transformed.withUnsafeBufferPointer { kernel in
                bias.withUnsafeBufferPointer { bias in
                    let (scratch, kernel, bias) = (scratchBuffer.baseAddress!, kernel.baseAddress!, bias.baseAddress!)
                    Parallel.forEach(blocks, threads: workers) { item, worker in
                        let (z, block) = item.quotientAndRemainder(dividingBy: blocksPerPlane)
                        let first = block * blockTiles
                        let count = min(blockTiles, g.tileCount - first)
                        // The kernel planes whose input plane is inside the map.
                        let firstPlane = max(0, g.padFront - z), endPlane = min(depth, g.inDepth + g.padFront - z)
                        let inputTiles = scratch + worker * scratchSize
                        let products = inputTiles + 36 * rowLength * count
                        let kernelScratch = products + 36 * outChannels * count
                        let outBase = output + z * outPlane
                        guard firstPlane < endPlane else {
                            // Only padding: every output is the bias (and its activation).
                            products.update(repeating: 0, count: 36 * outChannels * count)
                            unet_winograd4_output(
                                products, outChannels, outChannels * count, count, g.outHeight, g.outWidth, g.tilesX,
                                first, count, bias, activate, slope, outBase, g.outDepth * outPlane, kernelScratch)
                            return
                        }
                        for kz in firstPlane..<endPlane {
                            unet_winograd4_input(
                                input + (z - g.padFront + kz) * inPlane, inChannels, g.inDepth * inPlane, g.height,
                                g.width, g.padTop, g.padLeft, g.tilesX, first, count,
                                inputTiles + kz * inChannels * count, rowLength * count, count, kernelScratch)
                        }
                        let offset = firstPlane * inChannels
                        let inner = (endPlane - firstPlane) * inChannels
                        for position in 0..<36 {
                            BLAS.multiply(
                                m: outChannels, n: count, k: inner, kernel + position * matrix + offset, lda: rowLength,
                                inputTiles + position * rowLength * count + offset * count, ldb: count,
                                into: products + position * outChannels * count, ldc: count)
                        }
                        unet_winograd4_output(
                            products, outChannels, outChannels * count, count, g.outHeight, g.outWidth, g.tilesX,
                            first, count, bias, activate, slope, outBase, g.outDepth * outPlane, kernelScratch)
                    }
                }
            }
        }
        if activate == 0, let activation {
            let total = outChannels * g.outDepth * outPlane
            activation.apply(UnsafeMutableBufferPointer(start: output, count: total))
        }
    }
}
