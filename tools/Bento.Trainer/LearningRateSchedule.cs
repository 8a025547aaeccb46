namespace Bento.Trainer;

/// <summary>
/// Linear warmup from peak/warmup to the peak, then a cosine decay to the minimum at the last step.
/// </summary>
public static class LearningRateSchedule
{
    /// <param name="step">0-based optimizer step.</param>
    public static double At(int step, int totalSteps, int warmupSteps, double peak, double min)
    {
        if (step < warmupSteps)
            return peak * (step + 1) / warmupSteps;
        var decaySteps = Math.Max(1, totalSteps - 1 - warmupSteps);
        var progress = Math.Clamp((double)(step - warmupSteps) / decaySteps, 0.0, 1.0);
        return min + 0.5 * (peak - min) * (1.0 + Math.Cos(Math.PI * progress));
    }
}
