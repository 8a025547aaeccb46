using System.Globalization;
using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Python's strftime for the <c>strftime_now</c> global transformers gives templates (Llama 3.1
/// prints "Today Date: 26 Jul 2024" with it). English names, as Python's C locale gives.</summary>
internal static class Strftime
{
    public static string Format(DateTime time, string format)
    {
        var output = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                output.Append(format[i]);
                continue;
            }
            var code = format[++i];
            output.Append(code switch
            {
                'd' => time.Day.ToString("00", CultureInfo.InvariantCulture),
                'm' => time.Month.ToString("00", CultureInfo.InvariantCulture),
                'Y' => time.Year.ToString("0000", CultureInfo.InvariantCulture),
                'y' => (time.Year % 100).ToString("00", CultureInfo.InvariantCulture),
                'H' => time.Hour.ToString("00", CultureInfo.InvariantCulture),
                'I' => ((time.Hour + 11) % 12 + 1).ToString("00", CultureInfo.InvariantCulture),
                'M' => time.Minute.ToString("00", CultureInfo.InvariantCulture),
                'S' => time.Second.ToString("00", CultureInfo.InvariantCulture),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'b' => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(time.Month),
                'B' => CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(time.Month),
                'a' => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedDayName(time.DayOfWeek),
                'A' => CultureInfo.InvariantCulture.DateTimeFormat.GetDayName(time.DayOfWeek),
                'j' => time.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'e' => time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                '%' => "%",
                _ => "%" + code,
            });
        }
        return output.ToString();
    }
}
