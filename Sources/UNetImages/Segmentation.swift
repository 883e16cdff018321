import Foundation
import UNetCheckpoint
import UNetInference

/// How a network's output becomes per-class probabilities and a mask of class indices.
///
/// * **Softmax heads**: several output channels and a final activation of `softmax` or none
///   (logits, as milesial/Pytorch-UNet and MONAI output). Probabilities are the softmax over the
///   channels (the output itself when the network ends with the softmax); the mask holds, per
///   pixel, the index of the most probable channel (the first one on an exact tie), so classes
///   are `0 ..< channels`.
/// * **Sigmoid heads**: one output channel (the logit, or the probability when the network ends
///   with a sigmoid), or several channels after a final `sigmoid` (independent labels). Probabilities
///   are the sigmoid of the logits (or the output itself); a pixel is class `k + 1` when channel
///   `k` is the most probable and its probability is above the threshold (`p > threshold`, as
///   milesial's `predict.py`), else class 0 (background). One channel gives the classes 0 and 1.
public struct Segmentation: Sendable {
    public enum Head: Sendable, Equatable {
        case softmax
        case sigmoid
    }

    public let head: Head
    /// Whether the network's output is already probabilities (it ends with the activation).
    public let outputIsProbability: Bool
    /// The number of output channels.
    public let channels: Int

    public init(_ network: UNetNetwork) {
        channels = network.outputChannels
        switch network.architecture.finalActivation {
        case .softmax: (head, outputIsProbability) = (.softmax, true)
        case .sigmoid: (head, outputIsProbability) = (.sigmoid, true)
        case .none: (head, outputIsProbability) = (channels == 1 ? .sigmoid : .softmax, false)
        }
    }

    /// The number of classes a mask can hold: the channels (softmax) or the channels + background (sigmoid).
    public var classCount: Int { head == .softmax ? channels : channels + 1 }

    /// `softmax over 2 channels` / `sigmoid, threshold 0.5`.
    public func describe(threshold: Double) -> String {
        switch head {
        case .softmax: "\(channels) classes by argmax" + (outputIsProbability ? "" : " (softmax of the logits)")
        case .sigmoid:
            "\(channels == 1 ? "foreground" : "\(channels) labels") where the probability > \(threshold)"
                + (outputIsProbability ? "" : " (sigmoid of the logits)")
        }
    }

    /// The probabilities of a network output (NCHW or NCDHW; the same shape), computed in double
    /// precision.
    public func probabilities(_ output: FeatureMap) -> FeatureMap {
        precondition(output.channels == channels)
        guard !outputIsProbability else { return output }
        var result = output
        let plane = output.spatial.reduce(1, *)
        for n in 0..<output.batch {
            let base = n * channels * plane
            for i in 0..<plane {
                if head == .sigmoid {
                    for c in 0..<channels {
                        let x = Double(output.values[base + c * plane + i])
                        result.values[base + c * plane + i] = Float(1 / (1 + exp(-x)))
                    }
                } else {
                    var largest = -Double.infinity
                    for c in 0..<channels { largest = max(largest, Double(output.values[base + c * plane + i])) }
                    var sum = 0.0
                    for c in 0..<channels { sum += exp(Double(output.values[base + c * plane + i]) - largest) }
                    for c in 0..<channels {
                        let e = exp(Double(output.values[base + c * plane + i]) - largest)
                        result.values[base + c * plane + i] = Float(e / sum)
                    }
                }
            }
        }
        return result
    }

    /// The class of every pixel of every sample of `probabilities`; a volume's slices are pages
    /// (sample by sample, slice by slice).
    public func mask(_ probabilities: FeatureMap, threshold: Double) -> ClassMask {
        let plane = probabilities.spatial.reduce(1, *)
        var values = [UInt16](repeating: 0, count: probabilities.batch * plane)
        for n in 0..<probabilities.batch {
            let base = n * channels * plane
            for i in 0..<plane {
                var best = 0
                var bestValue = probabilities.values[base + i]
                for c in 1..<max(channels, 1) where probabilities.values[base + c * plane + i] > bestValue {
                    best = c
                    bestValue = probabilities.values[base + c * plane + i]
                }
                switch head {
                case .softmax: values[n * plane + i] = UInt16(best)
                case .sigmoid: values[n * plane + i] = Double(bestValue) > threshold ? UInt16(best + 1) : 0
                }
            }
        }
        return ClassMask(
            pages: probabilities.batch * (probabilities.spatial.count == 3 ? probabilities.spatial[0] : 1),
            height: probabilities.height, width: probabilities.width,
            classCount: classCount,
            values: values)
    }
}

/// A class index per pixel, page by page.
public struct ClassMask: Sendable, Equatable {
    public let pages: Int
    public let height: Int
    public let width: Int
    /// The number of classes the network can give (not only those present).
    public let classCount: Int
    /// `pages × height × width` class indices.
    public var values: [UInt16]

    public init(pages: Int, height: Int, width: Int, classCount: Int, values: [UInt16]) {
        precondition(values.count == pages * height * width)
        self.pages = pages
        self.height = height
        self.width = width
        self.classCount = classCount
        self.values = values
    }

    /// The mask as an image: 8-bit when every class fits (up to 256 classes), else 16-bit.
    public var raster: Raster {
        if classCount <= 256 {
            return Raster(
                pages: pages, height: height, width: width, channels: 1, sampleType: .uint8,
                bytes: values.map { UInt8(truncatingIfNeeded: $0) })
        }
        var bytes = [UInt8](repeating: 0, count: values.count * 2)
        bytes.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() { raw.storeBytes(of: value, toByteOffset: 2 * i, as: UInt16.self) }
        }
        return Raster(pages: pages, height: height, width: width, channels: 1, sampleType: .uint16, bytes: bytes)
    }

    /// The mask of one page.
    public func page(_ index: Int) -> ClassMask {
        let plane = height * width
        return ClassMask(
            pages: 1, height: height, width: width, classCount: classCount,
            values: Array(values[(index * plane)..<((index + 1) * plane)]))
    }
}
