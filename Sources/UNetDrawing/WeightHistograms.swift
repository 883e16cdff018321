import Foundation
import UNetCheckpoint

/// The distribution of one tensor's values: a fixed number of equal bins over its own finite
/// range, and its statistics. NaN and infinite values are counted apart, in no bin.
public struct TensorHistogram: Sendable {
    public static let defaultBinCount = 40

    public let key: String
    public let shape: [Int]
    public let statistics: TensorStatistics
    /// Values per bin; bin `i` covers `[lower + i·w, lower + (i+1)·w)`, the last one closed.
    /// When all finite values are equal they are all in the middle bin.
    public let counts: [Int]
    /// The finite minimum and maximum (0 when there is no finite value).
    public let lower: Double
    public let upper: Double

    /// The values in the bins (the tensor's finite values).
    public var binnedCount: Int { counts.reduce(0, +) }
    public var elementCount: Int { shape.reduce(1, *) }

    public init(key: String, tensor: Tensor, bins: Int = defaultBinCount) {
        precondition(bins >= 1, "a histogram needs a bin")
        let statistics = TensorStatistics(tensor)
        let lower = statistics.min ?? 0
        let upper = statistics.max ?? 0
        var counts = [Int](repeating: 0, count: bins)
        let scale = upper > lower ? Double(bins) / (upper - lower) : 0
        for value in tensor.floatValues() where value.isFinite {
            let bin = scale > 0 ? min(bins - 1, Int(((Double(value) - lower) * scale).rounded(.down))) : bins / 2
            counts[bin] += 1
        }
        self.key = key
        self.shape = tensor.shape
        self.statistics = statistics
        self.counts = counts
        self.lower = lower
        self.upper = upper
    }
}

/// Small multiples of ``TensorHistogram``s: one panel per tensor, in the given order, each over
/// its own range (weights, biases and norm statistics differ by orders of magnitude), bar heights
/// relative to the panel's tallest bin, the mean marked, min and max under the axis.
///
/// Panels are `g.histogram` (`data-key`, `data-elements`, `data-non-finite`), bars `rect.bin`
/// (`data-count`).
public struct HistogramFigure: Sendable {
    public let histograms: [TensorHistogram]
    public var title: String

    static let columns = 3
    static let panelWidth = 380.0
    static let panelHeight = 136.0
    static let margin = 24.0
    static let top = 76.0

    public init(_ histograms: [TensorHistogram], title: String) {
        self.histograms = histograms
        self.title = title
    }

    public func render() -> String {
        let columns = min(Self.columns, max(histograms.count, 1))
        let rows = (histograms.count + columns - 1) / columns
        var document = SVGDocument(
            width: Self.margin * 2 + Double(columns) * Self.panelWidth,
            height: Self.top + Double(rows) * Self.panelHeight + Self.margin)
        let bins = histograms.first?.counts.count ?? TensorHistogram.defaultBinCount
        document.append(.text(title, x: Self.margin, y: 32, size: 18, [("class", "title"), ("font-weight", "bold")]))
        document.append(
            .text(
                "\(histograms.count) tensors; each panel: \(bins) equal bins over the tensor's own finite min…max, "
                    + "bar heights relative to its tallest bin, orange line at the mean",
                x: Self.margin, y: 54, size: 12, [("class", "subtitle"), ("fill", "#444444")]))
        for (index, histogram) in histograms.enumerated() {
            let x = Self.margin + Double(index % columns) * Self.panelWidth
            let y = Self.top + Double(index / columns) * Self.panelHeight
            document.append(panel(histogram, x: x, y: y))
        }
        return document.render()
    }

    private func panel(_ histogram: TensorHistogram, x: Double, y: Double) -> SVGElement {
        let width = Self.panelWidth - 16
        let plotLeft = x + 8
        let plotWidth = width - 16
        let plotTop = y + 28
        let plotHeight = 62.0
        let baseline = plotTop + plotHeight
        let statistics = histogram.statistics
        let tallest = max(histogram.counts.max() ?? 0, 1)
        let binWidth = plotWidth / Double(histogram.counts.count)
        var children: [SVGElement] = [
            .rect(
                x: x, y: y, width: width, height: Self.panelHeight - 10, [("fill", "#fbfbfb"), ("stroke", "#dddddd")]),
            .text(histogram.key, x: plotLeft, y: y + 17, size: 11, [("class", "key"), ("font-weight", "bold")]),
            .text(
                histogram.shape.map(String.init).joined(separator: "×")
                    + " · \(grouped(histogram.elementCount)) values",
                x: plotLeft + plotWidth, y: y + 17, size: 10, anchor: "end", [("fill", "#555555")]),
        ]
        for (bin, count) in histogram.counts.enumerated() {
            let height = plotHeight * Double(count) / Double(tallest)
            children.append(
                .rect(
                    x: plotLeft + Double(bin) * binWidth, y: baseline - height, width: binWidth, height: height,
                    [("class", "bin"), ("data-count", "\(count)"), ("fill", "#5b8bd0")]))
        }
        children.append(
            .line(from: (plotLeft, baseline), to: (plotLeft + plotWidth, baseline), [("stroke", "#777777")]))
        if let mean = statistics.mean, histogram.upper > histogram.lower {
            let meanX = plotLeft + plotWidth * (mean - histogram.lower) / (histogram.upper - histogram.lower)
            children.append(
                .line(
                    from: (meanX, plotTop - 2), to: (meanX, baseline),
                    [("class", "mean"), ("stroke", "#e07b00"), ("stroke-width", "1.5")]))
        }
        children.append(
            .text(
                "min " + Self.number(statistics.min), x: plotLeft, y: baseline + 14, size: 10,
                [("class", "min"), ("fill", "#333333")]))
        children.append(
            .text(
                "max " + Self.number(statistics.max), x: plotLeft + plotWidth, y: baseline + 14, size: 10,
                anchor: "end",
                [("class", "max"), ("fill", "#333333")]))
        var summary = "mean \(Self.number(statistics.mean)) · std \(Self.number(statistics.std))"
        let nonFinite = statistics.nanCount + statistics.infinityCount
        if nonFinite > 0 { summary += " · \(statistics.nanCount) NaN, \(statistics.infinityCount) Inf (not binned)" }
        children.append(
            .text(
                summary, x: plotLeft + plotWidth / 2, y: baseline + 28, size: 10, anchor: "middle",
                [("class", "summary"), ("fill", nonFinite > 0 ? "#b00020" : "#333333")]))
        return .group(
            [
                ("class", "histogram"), ("data-key", histogram.key), ("data-elements", "\(histogram.elementCount)"),
                ("data-non-finite", "\(nonFinite)"),
            ], children)
    }

    /// Four significant digits, as `inspect --stats` prints them.
    static func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.4g", value)
    }
}
