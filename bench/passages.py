"""Reference texts that the benchmark reads aloud with espeak-ng, so that every WER has an exact truth.

Plain English prose written for this benchmark: no digits, abbreviations or rare names, so that word
error rate measures hearing and not spelling conventions. Each passage lasts about 35 to 50 seconds
when spoken.
"""

from __future__ import annotations

__all__ = ["PASSAGES"]

PASSAGES: tuple[str, ...] = (
    "The old lighthouse stood at the edge of the cliff for more than a century. Every evening the keeper "
    "climbed the narrow stairs, cleaned the glass and lit the lamp, so that ships could find their way "
    "past the rocks. When the storms came in winter, the waves rose so high that salt water reached the "
    "windows of the small house below. The keeper kept a careful diary of the weather, the passing ships "
    "and the birds that rested on the railing during their long journeys south.",
    "Learning to bake bread at home takes patience more than skill. You mix flour, water, salt and a "
    "little yeast, then let the dough rest until it doubles in size. Folding the dough gently every half "
    "hour builds strength without hard work. The oven should be very hot, and a pan of water on the "
    "bottom shelf gives the crust its shine. The hardest part is waiting for the loaf to cool before "
    "cutting the first slice.",
    "Our town library began as a single room above the post office, with shelves built by volunteers and "
    "books donated by families. Today it fills a bright building near the river, with quiet corners for "
    "reading and large tables where students work together in the afternoon. The librarians organize "
    "story hours for children, language classes for new neighbors and a small workshop where anyone can "
    "learn to repair an old bicycle or a broken lamp.",
    "A good night of sleep does more for memory than an extra hour of study. While we rest, the brain "
    "sorts the events of the day, keeping what seems important and letting the rest fade away. People "
    "who sleep well learn new skills faster and make fewer mistakes the next morning. Doctors suggest "
    "going to bed at the same time each night, keeping the bedroom cool and dark, and leaving phones in "
    "another room.",
    "The mountain trail starts in a forest of tall pine trees and follows a clear stream for the first "
    "few miles. After the bridge, the path becomes steep and rocky, and the trees give way to open "
    "meadows full of wild flowers in early summer. Hikers should carry enough water, a warm jacket and a "
    "map, because the weather near the summit can change within minutes. From the top, on a clear day, "
    "you can see three lakes and the distant sea.",
    "Many small businesses now sell their goods through online shops, but the work behind each parcel "
    "remains very human. Someone has to check the order, wrap the item carefully, print the label and "
    "carry the box to the delivery van before the afternoon collection. When a customer writes to "
    "complain, the owner often answers personally, because a single kind reply can turn an unhappy buyer "
    "into a loyal friend of the shop.",
    "Bees visit thousands of flowers every day, carrying pollen from one plant to the next. Without them, "
    "many of the fruits and vegetables we eat would become rare and expensive. Farmers sometimes rent "
    "hives during the blossom season and place them at the edge of their orchards. Gardeners can help by "
    "planting flowers that bloom at different times of the year and by avoiding sprays that harm "
    "insects.",
    "The train left the station just before sunrise, moving slowly through the sleeping suburbs and then "
    "faster across the open fields. Passengers drank coffee from paper cups, read the morning news or "
    "simply watched the landscape turn from grey to gold. By the time the conductor announced the first "
    "stop, the sun was high above the hills and the carriage had filled with the quiet sound of people "
    "talking about their plans for the day.",
    "Repairing a wooden chair is a pleasant way to spend a rainy weekend. First remove the loose parts "
    "and scrape away the old glue, then fit the joints together again to make sure they close without "
    "force. Fresh glue, a few clamps and a night of drying are usually enough. Finally, a light sanding "
    "and a coat of oil bring back the warm color of the wood, and the chair is ready for many more "
    "years of service.",
    "Public parks give cities room to breathe. On weekday mornings they belong to runners and people "
    "walking their dogs, while at lunch time office workers sit on the grass with sandwiches and sunshine. "
    "In the evening, families come to play football and older neighbors gather on the benches to talk. "
    "Trees in the park cool the air in summer, and the ponds offer shelter to ducks, frogs and many small "
    "birds.",
    "Writing a clear letter starts with knowing what you want the reader to do. Put the main request near "
    "the beginning, explain the reasons in short paragraphs, and finish with a simple summary of the next "
    "steps. Read the letter aloud before sending it, because awkward sentences are easier to hear than "
    "to see. A polite tone costs nothing and often brings a faster answer than a demanding one.",
    "The weather forecast for the coming week promises cold mornings and mild afternoons, with a chance "
    "of rain on the weekend. Farmers in the valley are hurrying to bring in the last of the harvest before "
    "the ground becomes too wet for their machines. In the town, shop owners have put out warm coats and "
    "umbrellas, and the market stalls are full of apples, pumpkins and fresh walnuts from the nearby "
    "hills.",
    "Learning a new language as an adult is slower than learning it as a child, but it is far from "
    "impossible. The secret is regular practice in small doses: a few new words every morning, a short "
    "conversation with a neighbour, a song or a film in the evening. Mistakes are part of the process, "
    "and most people are happy to help a learner who tries. After a few months, the strange sounds begin "
    "to feel familiar.",
    "The museum opened a new hall this spring, dedicated to the history of everyday objects. Visitors can "
    "follow the story of the kitchen knife, the pocket watch and the humble wooden spoon across many "
    "centuries. Children especially enjoy the room where they may touch old tools and try to guess what "
    "they were used for. The guides tell stories about the people who made and owned each object.",
)
